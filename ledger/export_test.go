package ledger

// Queued is the number of owner's submissions waiting for the sequencer.
func (l *Ledger) Queued(owner string) int { return l.queue.queued(owner) }
