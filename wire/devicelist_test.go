package wire

import "testing"

func deviceListSamples() []sample {
	return []sample{
		{"PublishDeviceList", 40, &PublishDeviceList{AccountKey: AccountKey{1}, Version: 3, List: fill(0x6b, 40)}},
		{"FetchDeviceList", 41, &FetchDeviceList{AccountKey: AccountKey{2}}},
		{"DeviceList", 41, &DeviceList{AccountKey: AccountKey{2}, Version: 7, List: fill(0x6c, 17)}},
	}
}

func TestDeviceListRefusesEmptyAndHuge(t *testing.T) {
	for _, m := range []Message{
		&PublishDeviceList{Version: 1},
		&DeviceList{Version: 1, List: make([]byte, MaxDeviceList+1)},
	} {
		if _, err := Encode(Frame{RequestID: 1, Msg: m}); err == nil {
			t.Errorf("%T with an empty or oversized list encoded", m)
		}
	}
	if ResponseType(TypeFetchDeviceList) != TypeDeviceList || ResponseType(TypePublishDeviceList) != TypeOK {
		t.Error("device list response types")
	}
}
