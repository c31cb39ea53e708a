// Package core holds the module's business services. It speaks to the
// portal, the record sink and the checkpoint store only through the
// interfaces in package ports, so the real adapter, the stub or a test double
// can stand behind each.
//
// The one service today is the certification sync (SyncService): a pass
// reads every certification page by page in key order, classifies its expiry
// against today's date, writes the sync status back to the portal where it
// changed, hands each page to a sink and saves a checkpoint after each page,
// so an interrupted pass resumes where it stopped.
package core
