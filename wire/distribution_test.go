package wire

import (
	"strings"
	"testing"
)

// distributionSamples are the distribution messages' samples (and golden
// files).
func distributionSamples() []sample {
	return []sample{
		{"RequestInvitation", 32, &RequestInvitation{}},
		{"Invitation", 32, &Invitation{Token: fill(0x49, InvitationToken)}},
		{"RedeemInvitation", 33, &RedeemInvitation{Token: fill(0x49, InvitationToken)}},
		{"ReportBlocked", 34, &ReportBlocked{IDs: []string{"r-0123456789ab", "r-ba9876543210"}}},
	}
}

func TestDistributionMessages(t *testing.T) {
	for req, want := range map[Type]Type{TypeRequestInvitation: TypeInvitation, TypeRedeemInvitation: TypeOK, TypeReportBlocked: TypeBook} {
		if got := ResponseType(req); got != want {
			t.Errorf("ResponseType(%v) = %v, want %v", req, got, want)
		}
	}
	bad := []Message{
		&ReportBlocked{},
		&ReportBlocked{IDs: []string{""}},
		&ReportBlocked{IDs: make([]string, MaxReportedRelays+1)},
		&ReportBlocked{IDs: []string{strings.Repeat("r", MaxRelayID+1)}},
		&RedeemInvitation{Token: fill(1, InvitationToken-1)},
		&Invitation{Token: fill(1, InvitationToken+1)},
	}
	for _, m := range bad {
		if _, err := Encode(Frame{RequestID: 1, Msg: m}); err == nil {
			t.Errorf("%T %+v encoded; want an error", m, m)
		}
	}
	good, err := Encode(Frame{RequestID: 1, Msg: &ReportBlocked{IDs: []string{"r-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(good[:len(good)-1]); err == nil {
		t.Error("a truncated ReportBlocked decoded")
	}
	fr, err := Decode(good)
	if err != nil {
		t.Fatalf("good ReportBlocked: %v", err)
	}
	if ids := fr.Msg.(*ReportBlocked).IDs; len(ids) != 1 || ids[0] != "r-1" {
		t.Errorf("decoded %q, want [r-1]", ids)
	}
}
