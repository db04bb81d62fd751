package risk

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// StateConfig bounds the feature state. Zero fields take the defaults.
type StateConfig struct {
	// EntitiesMax is how many entities (cards, vouchers, customers,
	// devices, IP addresses and emails together) Evict keeps. Between
	// Evict calls Observe holds the state near 1.25 × EntitiesMax: past
	// that, each new entity replaces the least recently seen of a few
	// sampled from its shard. Default 1,000,000 (about 0.4 GB).
	EntitiesMax int
	// DistinctMax bounds every distinct set (cards per device, known
	// devices of a customer, ...). Default 64.
	DistinctMax int
	// ProfileIdleMax is how long a customer's profile (first seen, amount
	// history, known devices and countries, hours) outlives its last
	// attempt. Default 90 days.
	ProfileIdleMax time.Duration
}

const (
	entitiesMaxDefault    = 1_000_000
	distinctMaxDefault    = 64
	profileIdleMaxDefault = 90 * 24 * time.Hour

	shardBits  = 6
	shardCount = 1 << shardBits

	// evictSample is how many entities Observe looks at to pick one to
	// drop when the state is over its hard bound.
	evictSample = 8
)

// State is the feature code's memory of recent attempts: sliding-window
// counters and distinct sets per card, voucher, customer, device, IP
// address and email, and each customer's profile. It is safe for
// concurrent use; Extract only reads.
//
// Entities live in per-type tables of shardCount shards, each behind its
// own RWMutex; a call locks one shard at a time, never two.
type State struct {
	cfg       StateConfig
	hardMax   int64
	n         atomic.Int64 // entities in all tables
	cards     table[*card]
	vouchers  table[*voucher]
	customers table[*customer]
	devices   table[*device]
	ips       table[*ip]
	emails    table[*email]
	// seedEmailCustomer keys customers known only by email, apart from
	// those with a customer id.
	seedEmailCustomer maphash.Seed
	// seedScoped keys the entities of standalone attempts, which count
	// within their merchant only: apart from the platform's, whatever the
	// values.
	seedScoped maphash.Seed
}

// NewState returns an empty state.
func NewState(cfg StateConfig) *State {
	if cfg.EntitiesMax <= 0 {
		cfg.EntitiesMax = entitiesMaxDefault
	}
	if cfg.DistinctMax <= 0 {
		cfg.DistinctMax = distinctMaxDefault
	}
	if cfg.ProfileIdleMax <= 0 {
		cfg.ProfileIdleMax = profileIdleMaxDefault
	}
	s := &State{cfg: cfg, hardMax: int64(cfg.EntitiesMax) + int64(cfg.EntitiesMax)/4, seedEmailCustomer: maphash.MakeSeed(),
		seedScoped: maphash.MakeSeed()}
	// Each entity is dropped once idle for its longest window: after that
	// every feature it feeds is zero anyway.
	s.cards.init(func() *card { return new(card) }, span24h.seconds())
	s.vouchers.init(func() *voucher { return new(voucher) }, span24h.seconds())
	s.customers.init(func() *customer { return new(customer) }, int64(cfg.ProfileIdleMax/time.Second))
	s.devices.init(func() *device { return new(device) }, span7d.seconds())
	s.ips.init(func() *ip { return new(ip) }, span24h.seconds())
	s.emails.init(func() *email { return new(email) }, span24h.seconds())
	return s
}

// Len is how many entities the state holds.
func (s *State) Len() int { return int(s.n.Load()) }

// head is what every entity has: when it was last and first seen (Unix
// seconds of event time).
type head struct {
	seen, first int64
}

func (h *head) touch(t int64, fresh bool) {
	if fresh {
		h.seen, h.first = t, t
		return
	}
	h.seen = max(h.seen, t)
	h.first = min(h.first, t)
}

func (h *head) lastSeen() int64 { return h.seen }

type entity interface {
	touch(t int64, fresh bool)
	lastSeen() int64
}

type card struct {
	head
	att1m                   count1m
	att1h, fail1h           count1h
	att24h, fail24h, dec24h count24h
	customers               distinct // 24 h
	devices, ips            distinct // 24 h
}

type voucher struct {
	head
	att1m         count1m
	att1h, fail1h count1h
	fail24h       count24h
}

type customer struct {
	head
	att1h                    count1h
	att24h, fail24h          count24h
	approved24h, deposits24h sum24h
	approved7d, deposits7d   sum7d
	profile
}

// profile is what a customer's approved money movements (payments,
// deposits, withdrawals) taught: amounts, devices, countries, hours; and
// where the customer last was.
type profile struct {
	approved int64 // approved money movements
	// devices, cards and ipRanges (IPv4 /24, IPv6 /48) are those of
	// approved attempts, each with when it was first approved.
	cards, ipRanges distinct
	mean, m2        float64 // Welford's running mean and sum of squared deviations of their amounts
	amountMax       int64
	hours           [24]uint16 // approved per hour of day (UTC), stopping at 65,535
	devices         distinct
	countries       distinct // ISO codes packed into the hash field
	located         bool     // lat, lon and locAt are set
	locAt           int64    // Unix seconds of the newest located attempt
	lat, lon        float64
}

type device struct {
	head
	att1m                      count1m
	att1h, fail1h              count1h
	cards, customers, vouchers distinct // 24 h, 7 d, 24 h
	ips                        distinct // 24 h
}

type ip struct {
	head
	att1m            count1m
	att1h, fail1h    count1h
	cards, customers distinct // 24 h (and 1 h), 24 h
}

type email struct {
	head
	att24h, fail24h count24h
}

// keys are the hashed entity keys of one event; 0 is "no such entity".
type keys struct {
	card, voucher, customer, device, ip, email uint64
	// ipRange keys the address's /24 (IPv6: /48) within a customer's
	// profile only.
	ipRange uint64
}

func (s *State) keysOf(ev *Event) keys {
	if ev.Standalone {
		return s.scopedKeysOf(ev)
	}
	k := keys{
		card:    hashKey(s.cards.seed, ev.CardFingerprint),
		voucher: hashKey(s.vouchers.seed, ev.VoucherSerial),
		device:  hashKey(s.devices.seed, ev.DeviceID),
		ip:      ipKey(s.ips.seed, ev.IP),
		email:   hashKey(s.emails.seed, ev.Email),
		ipRange: ipRangeKey(s.ips.seed, ev.IP),
	}
	if ev.CustomerID != "" {
		k.customer = hashKey(s.customers.seed, ev.CustomerID)
	} else {
		k.customer = hashKey(s.seedEmailCustomer, ev.Email)
	}
	return k
}

// Tags of scoped keys: one seed serves every table, so a customer id and
// an email that spell the same stay two customers.
const (
	tagCard byte = iota + 1
	tagVoucher
	tagDevice
	tagIP
	tagEmail
	tagCustomer
	tagEmailCustomer
)

// scopedKeysOf keys a standalone attempt's entities within its merchant:
// they neither raise nor read the platform's counts.
func (s *State) scopedKeysOf(ev *Event) keys {
	m := ev.MerchantID
	k := keys{
		card:    s.scopedKey(tagCard, m, ev.CardFingerprint),
		voucher: s.scopedKey(tagVoucher, m, ev.VoucherSerial),
		device:  s.scopedKey(tagDevice, m, ev.DeviceID),
		ip:      s.scopedKey(tagIP, m, ipNetwork(ev.IP)),
		email:   s.scopedKey(tagEmail, m, ev.Email),
		ipRange: ipRangeKey(s.ips.seed, ev.IP),
	}
	if ev.CustomerID != "" {
		k.customer = s.scopedKey(tagCustomer, m, ev.CustomerID)
	} else {
		k.customer = s.scopedKey(tagEmailCustomer, m, ev.Email)
	}
	return k
}

func (s *State) scopedKey(tag byte, merchantID, v string) uint64 {
	if v == "" {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(s.seedScoped)
	h.WriteByte(tag)
	h.WriteString(merchantID)
	h.WriteByte(0) // merchant ids hold no NUL
	h.WriteString(v)
	return nonZero(h.Sum64())
}

// voucherKey keys one voucher serial of ev (its first or an extra one).
func (s *State) voucherKey(ev *Event, serial string) uint64 {
	if ev.Standalone {
		return s.scopedKey(tagVoucher, ev.MerchantID, serial)
	}
	return hashKey(s.vouchers.seed, serial)
}

// ipNetwork is what ipKey keys an address by, as text: an IPv4 address
// itself, an IPv6 address's /64.
func ipNetwork(v string) string {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return v
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// hashKey hashes a key value with the table's seed: long values cost 8
// bytes, and a payer cannot choose values that collide without knowing the
// process's random seed. No feature depends on the hash values, so replays
// are deterministic across processes all the same.
func hashKey(seed maphash.Seed, v string) uint64 {
	if v == "" {
		return 0
	}
	return nonZero(maphash.String(seed, v))
}

// ipKey keys an IPv4 address by itself and an IPv6 address by its /64:
// one network is one subscriber, who can pick any of its 2^64 addresses.
func ipKey(seed maphash.Seed, v string) uint64 {
	if v == "" {
		return 0
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return hashKey(seed, v)
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return nonZero(maphash.Bytes(seed, b[:]))
	}
	b := a.As16()
	return nonZero(maphash.Bytes(seed, b[:8]))
}

// ipRangeKey keys an address's /24 (IPv6: /48): a household's or an
// office's line changes its address within its provider's range far more
// often than it leaves it.
func ipRangeKey(seed maphash.Seed, v string) uint64 {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return 0
	}
	var k [7]byte
	if a = a.Unmap(); a.Is4() {
		b := a.As4()
		k[0], k[1], k[2], k[3] = 4, b[0], b[1], b[2]
		return nonZero(maphash.Bytes(seed, k[:4]))
	}
	b := a.As16()
	k[0] = 6
	copy(k[1:], b[:6])
	return nonZero(maphash.Bytes(seed, k[:]))
}

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// Observe records the attempt itself, at scoring time, before its outcome
// is known: attempts of every entity of ev, the distinct sets, the
// customer's location and first-seen time.
//
// A credit check (KindCredit) is not an attempt to pay: it is not counted.
func (s *State) Observe(ev *Event) {
	if ev.Kind == KindCredit {
		return
	}
	s.observe(ev, s.keysOf(ev))
}

func (s *State) observe(ev *Event, k keys) {
	t := ev.Time.Unix()
	if k.card != 0 {
		s.observeCard(k, t)
	}
	if k.voucher != 0 {
		s.observeVoucher(k.voucher, t)
	}
	for _, serial := range ev.ExtraVoucherSerials {
		if h := s.voucherKey(ev, serial); h != 0 {
			s.observeVoucher(h, t)
		}
	}
	if k.customer != 0 {
		s.observeCustomer(ev, k, t)
	}
	if k.device != 0 {
		s.observeDevice(ev, k, t)
	}
	if k.ip != 0 {
		s.observeIP(k, t)
	}
	if k.email != 0 {
		s.observeEmail(k, t)
	}
}

// The observe* and outcome* helpers each lock one shard and unlock it by
// defer: a panic recovered further up must not leave a shard locked.

func (s *State) observeCard(k keys, t int64) {
	sh, c := s.cards.lock(s, k.card, t)
	defer sh.mu.Unlock()
	c.att1m.add(span1m, t, 1)
	c.att1h.add(span1h, t, 1)
	c.att24h.add(span24h, t, 1)
	if k.customer != 0 {
		c.customers.add(k.customer, t, s.cfg.DistinctMax)
	}
	if k.device != 0 {
		c.devices.add(k.device, t, s.cfg.DistinctMax)
	}
	if k.ip != 0 {
		c.ips.add(k.ip, t, s.cfg.DistinctMax)
	}
}

func (s *State) observeVoucher(h uint64, t int64) {
	sh, v := s.vouchers.lock(s, h, t)
	defer sh.mu.Unlock()
	v.att1m.add(span1m, t, 1)
	v.att1h.add(span1h, t, 1)
}

func (s *State) observeCustomer(ev *Event, k keys, t int64) {
	sh, c := s.customers.lock(s, k.customer, t)
	defer sh.mu.Unlock()
	c.att1h.add(span1h, t, 1)
	c.att24h.add(span24h, t, 1)
	// The newest located attempt is where the customer is; one seen out
	// of order does not move them back.
	if g := ev.Geo; g.Known && validLatLon(g.Lat, g.Lon) && (!c.located || t >= c.locAt) {
		c.located, c.locAt, c.lat, c.lon = true, t, g.Lat, g.Lon
	}
}

func (s *State) observeDevice(ev *Event, k keys, t int64) {
	sh, d := s.devices.lock(s, k.device, t)
	defer sh.mu.Unlock()
	d.att1m.add(span1m, t, 1)
	d.att1h.add(span1h, t, 1)
	if k.card != 0 {
		d.cards.add(k.card, t, s.cfg.DistinctMax)
	}
	if k.customer != 0 {
		d.customers.add(k.customer, t, s.cfg.DistinctMax)
	}
	if k.voucher != 0 {
		d.vouchers.add(k.voucher, t, s.cfg.DistinctMax)
	}
	if k.ip != 0 {
		d.ips.add(k.ip, t, s.cfg.DistinctMax)
	}
	for _, serial := range ev.ExtraVoucherSerials {
		if h := s.voucherKey(ev, serial); h != 0 {
			d.vouchers.add(h, t, s.cfg.DistinctMax)
		}
	}
}

func (s *State) observeIP(k keys, t int64) {
	sh, a := s.ips.lock(s, k.ip, t)
	defer sh.mu.Unlock()
	a.att1m.add(span1m, t, 1)
	a.att1h.add(span1h, t, 1)
	if k.card != 0 {
		a.cards.add(k.card, t, s.cfg.DistinctMax)
	}
	if k.customer != 0 {
		a.customers.add(k.customer, t, s.cfg.DistinctMax)
	}
}

func (s *State) observeEmail(k keys, t int64) {
	sh, e := s.emails.lock(s, k.email, t)
	defer sh.mu.Unlock()
	e.att24h.add(span24h, t, 1)
}

// ObserveOutcome records the outcome of an attempt already observed, at
// the attempt's time (ev.Time), so online and replayed states agree.
// Declined, failed and blocked attempts are failures; an approved payment,
// deposit or withdrawal feeds the customer's profile. An empty or unknown
// outcome records nothing. Each outcome must be recorded once.
func (s *State) ObserveOutcome(ev *Event) {
	if ev.Kind == KindCredit {
		return
	}
	s.observeOutcome(ev, s.keysOf(ev))
}

func (s *State) observeOutcome(ev *Event, k keys) {
	t := ev.Time.Unix()
	switch ev.Outcome {
	case OutcomeApproved:
		// Logins and sign-ups have no amount; and a login must not make
		// an attacker's device "known" before the payment that follows.
		if isMoney(ev.Kind) && k.customer != 0 {
			s.outcomeApproved(ev, k, t)
		}
	case OutcomeDeclined, OutcomeFailed, OutcomeBlocked:
		declined := ev.Outcome == OutcomeDeclined
		if k.card != 0 {
			s.outcomeCard(k, t, declined)
		}
		if k.voucher != 0 {
			s.outcomeVoucher(k.voucher, t)
		}
		for _, serial := range ev.ExtraVoucherSerials {
			if h := s.voucherKey(ev, serial); h != 0 {
				s.outcomeVoucher(h, t)
			}
		}
		if k.customer != 0 {
			s.outcomeCustomer(k, t)
		}
		if k.device != 0 {
			s.outcomeDevice(k, t)
		}
		if k.ip != 0 {
			s.outcomeIP(k, t)
		}
		if k.email != 0 {
			s.outcomeEmail(k, t)
		}
	}
}

func isMoney(kind string) bool {
	return kind == KindPayment || kind == KindDeposit || kind == KindWithdrawal || kind == KindPayout
}

func (s *State) outcomeCard(k keys, t int64, declined bool) {
	sh, c := s.cards.lock(s, k.card, t)
	defer sh.mu.Unlock()
	c.fail1h.add(span1h, t, 1)
	c.fail24h.add(span24h, t, 1)
	if declined {
		c.dec24h.add(span24h, t, 1)
	}
}

func (s *State) outcomeVoucher(h uint64, t int64) {
	sh, v := s.vouchers.lock(s, h, t)
	defer sh.mu.Unlock()
	v.fail1h.add(span1h, t, 1)
	v.fail24h.add(span24h, t, 1)
}

func (s *State) outcomeCustomer(k keys, t int64) {
	sh, c := s.customers.lock(s, k.customer, t)
	defer sh.mu.Unlock()
	c.fail24h.add(span24h, t, 1)
}

func (s *State) outcomeDevice(k keys, t int64) {
	sh, d := s.devices.lock(s, k.device, t)
	defer sh.mu.Unlock()
	d.fail1h.add(span1h, t, 1)
}

func (s *State) outcomeIP(k keys, t int64) {
	sh, a := s.ips.lock(s, k.ip, t)
	defer sh.mu.Unlock()
	a.fail1h.add(span1h, t, 1)
}

func (s *State) outcomeEmail(k keys, t int64) {
	sh, e := s.emails.lock(s, k.email, t)
	defer sh.mu.Unlock()
	e.fail24h.add(span24h, t, 1)
}

func (s *State) outcomeApproved(ev *Event, k keys, t int64) {
	amount := max(ev.Amount, 0)
	a := float32(amount)
	sh, c := s.customers.lock(s, k.customer, t)
	defer sh.mu.Unlock()
	c.approved24h.add(span24h, t, a)
	c.approved7d.add(span7d, t, a)
	if ev.Kind == KindDeposit {
		c.deposits24h.add(span24h, t, a)
		c.deposits7d.add(span7d, t, a)
	}
	p := &c.profile
	p.approved++
	x := float64(amount)
	d := x - p.mean
	p.mean += d / float64(p.approved)
	p.m2 += d * (x - p.mean)
	p.amountMax = max(p.amountMax, amount)
	if h := &p.hours[ev.Time.UTC().Hour()]; *h < ^uint16(0) {
		*h++
	}
	if k.device != 0 {
		p.devices.addFirst(k.device, t, s.cfg.DistinctMax)
	}
	if k.card != 0 {
		p.cards.addFirst(k.card, t, s.cfg.DistinctMax)
	}
	if k.ipRange != 0 {
		p.ipRanges.addFirst(k.ipRange, t, s.cfg.DistinctMax)
	}
	if c := ev.Geo.Country; c != "" {
		p.countries.add(countryKey(c), t, s.cfg.DistinctMax)
	}
}

// countryKey packs a two-letter code (anything else is hashed as bytes up
// to 8) into the distinct set's hash field; never 0.
func countryKey(c string) uint64 {
	var h uint64 = 1 << 63
	for i := 0; i < len(c) && i < 7; i++ {
		h |= uint64(c[i]) << (8 * i)
	}
	return h
}

// Evict drops the entities idle longer than their longest window (customer
// profiles: ProfileIdleMax) at now, then, while more than EntitiesMax
// remain, the least recently seen (all of those last seen in the same
// second as the last one that must go, so the result never depends on map
// order). It returns how many it dropped.
func (s *State) Evict(now time.Time) int {
	t := now.Unix()
	n := evictIdle(s, &s.cards, t) + evictIdle(s, &s.vouchers, t) + evictIdle(s, &s.customers, t) +
		evictIdle(s, &s.devices, t) + evictIdle(s, &s.ips, t) + evictIdle(s, &s.emails, t)
	excess := s.Len() - s.cfg.EntitiesMax
	if excess <= 0 {
		return n
	}
	seen := make([]int64, 0, s.Len()+shardCount)
	seen = appendSeen(&s.cards, seen)
	seen = appendSeen(&s.vouchers, seen)
	seen = appendSeen(&s.customers, seen)
	seen = appendSeen(&s.devices, seen)
	seen = appendSeen(&s.ips, seen)
	seen = appendSeen(&s.emails, seen)
	// Entities may have gone meanwhile (the hard bound): cut no further
	// than there are.
	excess = min(excess, len(seen))
	if excess == 0 {
		return n
	}
	slices.Sort(seen)
	cut := seen[excess-1] // everything last seen at or before cut goes
	return n + evictBefore(s, &s.cards, cut) + evictBefore(s, &s.vouchers, cut) + evictBefore(s, &s.customers, cut) +
		evictBefore(s, &s.devices, cut) + evictBefore(s, &s.ips, cut) + evictBefore(s, &s.emails, cut)
}

func evictIdle[P entity](s *State, tb *table[P], now int64) int {
	return tb.deleteIf(s, func(e P) bool { return now-e.lastSeen() >= tb.idle })
}

func evictBefore[P entity](s *State, tb *table[P], cut int64) int {
	return tb.deleteIf(s, func(e P) bool { return e.lastSeen() <= cut })
}

func appendSeen[P entity](tb *table[P], seen []int64) []int64 {
	for i := range tb.shards {
		sh := &tb.shards[i]
		sh.mu.RLock()
		for _, e := range sh.m {
			seen = append(seen, e.lastSeen())
		}
		sh.mu.RUnlock()
	}
	return seen
}

// table holds one type of entity by hashed key.
type table[P entity] struct {
	shards [shardCount]shard[P]
	alloc  func() P
	idle   int64 // seconds
	seed   maphash.Seed
}

type shard[P entity] struct {
	mu sync.RWMutex
	m  map[uint64]P
	_  [64]byte // keeps neighbouring shards' locks off one cache line
}

func (tb *table[P]) init(alloc func() P, idle int64) {
	tb.alloc, tb.idle, tb.seed = alloc, idle, maphash.MakeSeed()
	for i := range tb.shards {
		tb.shards[i].m = make(map[uint64]P)
	}
}

func (tb *table[P]) shard(h uint64) *shard[P] { return &tb.shards[h>>(64-shardBits)] }

// get returns the entity of h, or nil, with its shard read-locked; the
// caller unlocks.
func (tb *table[P]) get(h uint64) (*shard[P], P) {
	sh := tb.shard(h)
	sh.mu.RLock()
	return sh, sh.m[h]
}

// lock returns the entity of h, made if need be and touched at t, with its
// shard locked; the caller unlocks.
func (tb *table[P]) lock(s *State, h uint64, t int64) (*shard[P], P) {
	sh := tb.shard(h)
	sh.mu.Lock()
	e, ok := sh.m[h]
	if !ok {
		if s.n.Load() >= s.hardMax {
			sh.dropSampled(s)
		}
		e = tb.alloc()
		sh.m[h] = e
		s.n.Add(1)
	}
	e.touch(t, !ok)
	return sh, e
}

// dropSampled drops the least recently seen of a few of the shard's
// entities (Go's map iteration starts at a random place), so the state
// stays bounded when Evict is not called often enough.
func (sh *shard[P]) dropSampled(s *State) {
	var (
		victim uint64
		oldest int64
		found  bool
		i      int
	)
	for h, e := range sh.m {
		if !found || e.lastSeen() < oldest {
			victim, oldest, found = h, e.lastSeen(), true
		}
		if i++; i == evictSample {
			break
		}
	}
	if found {
		delete(sh.m, victim)
		s.n.Add(-1)
	}
}

func (tb *table[P]) deleteIf(s *State, drop func(P) bool) int {
	n := 0
	for i := range tb.shards {
		sh := &tb.shards[i]
		sh.mu.Lock()
		for h, e := range sh.m {
			if drop(e) {
				delete(sh.m, h)
				n++
			}
		}
		sh.mu.Unlock()
	}
	s.n.Add(-int64(n))
	return n
}
