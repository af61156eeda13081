package mls

// pendingCommit is a commit we sent that awaits the delivery service's
// verdict: MergePendingCommit installs next, ClearPendingCommit drops it.
type pendingCommit struct {
	next *Group
}
