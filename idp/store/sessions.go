package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/portcullis-idp/portcullis/migrations"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// --- browser sessions ---

// CreateBrowserSession inserts a new session row.
func (s *Store) CreateBrowserSession(ctx context.Context, bs *BrowserSession) error {
	if bs.ID == "" {
		bs.ID = NewID()
	}
	bs.AMR = bs.AMR.orEmpty()
	now := s.now()
	if bs.CreatedAt.IsZero() {
		bs.CreatedAt = now
	}
	if bs.LastSeenAt.IsZero() {
		bs.LastSeenAt = now
	}
	return translate(s.conn(ctx).Create(bs).Error)
}

// ActiveSession finds the live session whose cookie secret hashes to
// secretHash: not ended, not past its absolute end, and not idle for longer
// than its own idle limit (IdleSeconds), or than defaultIdle when it has
// none. Anything else is ErrNotFound.
func (s *Store) ActiveSession(ctx context.Context, secretHash string, defaultIdle time.Duration) (*BrowserSession, error) {
	now := s.now()
	var bs BrowserSession
	err := s.conn(ctx).
		Where("secret_hash = ? AND ended_at IS NULL AND expires_at > ?", secretHash, now).
		Take(&bs).Error
	if err != nil {
		return nil, translate(err)
	}
	if bs.idleAt(now, defaultIdle) {
		return nil, ErrNotFound
	}
	return &bs, nil
}

// idleAt reports whether the session has gone unused for longer than its
// idle limit at now (it ends at its next use, or at the expiry sweep).
func (bs *BrowserSession) idleAt(now time.Time, defaultIdle time.Duration) bool {
	return !bs.LastSeenAt.After(now.Add(-bs.IdleLimit(defaultIdle)))
}

// IdleLimit is how long the session may go unused: its own limit, or
// defaultIdle when it was started without one.
func (bs *BrowserSession) IdleLimit(defaultIdle time.Duration) time.Duration {
	if bs.IdleSeconds > 0 {
		return time.Duration(bs.IdleSeconds) * time.Second
	}
	return defaultIdle
}

// SessionByID returns a session whatever its state.
func (s *Store) SessionByID(ctx context.Context, id string) (*BrowserSession, error) {
	var bs BrowserSession
	err := s.conn(ctx).Where("id = ?", id).Take(&bs).Error
	return &bs, translate(err)
}

// TouchSession records activity (callers throttle this off the hot path).
func (s *Store) TouchSession(ctx context.Context, id string) error {
	return s.conn(ctx).Model(&BrowserSession{}).Where("id = ? AND ended_at IS NULL", id).
		Update("last_seen_at", s.now()).Error
}

// SessionUpdate is what a completed sign-in step changes on a session.
type SessionUpdate struct {
	NewSecretHash string // rotation: the old cookie stops working
	AuthTime      time.Time
	AMR           []string
	ACR           string
}

// UpdateSessionAuth rotates the session secret and records how the user
// authenticated, only while the session is live.
func (s *Store) UpdateSessionAuth(ctx context.Context, id string, u SessionUpdate) error {
	fields := map[string]any{"last_seen_at": s.now()}
	if u.NewSecretHash != "" {
		fields["secret_hash"] = u.NewSecretHash
	}
	if !u.AuthTime.IsZero() {
		fields["auth_time"] = u.AuthTime.UTC()
	}
	if u.AMR != nil {
		fields["amr"] = StringList(u.AMR).jsonText()
	}
	if u.ACR != "" {
		fields["acr"] = u.ACR
	}
	res := s.conn(ctx).Model(&BrowserSession{}).Where("id = ? AND ended_at IS NULL", id).Updates(fields)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// EndedSession tells what EndSessions ended, for back-channel logout.
type EndedSession struct {
	SessionID string
	UserID    string
	ClientIDs []string
}

// EndSession ends one live session and revokes its tokens in one
// transaction. Ending an already ended session is not an error and ends
// nothing (the returned slice is empty).
func (s *Store) EndSession(ctx context.Context, id, reason string) ([]EndedSession, error) {
	return s.endSessions(ctx, reason, func(q *gorm.DB) *gorm.DB { return q.Where("id = ?", id) })
}

// EndUserSessions ends every live session of a user, except keepID.
func (s *Store) EndUserSessions(ctx context.Context, userID, keepID, reason string) ([]EndedSession, error) {
	return s.endSessions(ctx, reason, func(q *gorm.DB) *gorm.DB {
		return q.Where("user_id = ? AND id <> ?", userID, keepID)
	})
}

// EndUserSessionsBelow ends every live session of a user whose level is
// not acr (the MFA level: the sessions that passed a password alone),
// except keepID, with their tokens and back-channel logouts as
// EndSession. It runs when the user gains a second factor or spends the
// recovery key, so a session from before cannot act for them.
func (s *Store) EndUserSessionsBelow(ctx context.Context, userID, keepID, acr, reason string) ([]EndedSession, error) {
	return s.endSessions(ctx, reason, func(q *gorm.DB) *gorm.DB {
		return q.Where("user_id = ? AND id <> ? AND acr <> ?", userID, keepID, acr)
	})
}

// EndTenantSessions ends every live session of a tenant, except keepID.
func (s *Store) EndTenantSessions(ctx context.Context, tenantID, keepID, reason string) ([]EndedSession, error) {
	return s.endSessions(ctx, reason, func(q *gorm.DB) *gorm.DB {
		return q.Where("tenant_id = ? AND id <> ?", tenantID, keepID)
	})
}

func (s *Store) endSessions(ctx context.Context, reason string, scope func(*gorm.DB) *gorm.DB) ([]EndedSession, error) {
	var ended []EndedSession
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		var rows []BrowserSession
		if err := scope(db.Model(&BrowserSession{})).Where("ended_at IS NULL").
			Clauses(s.lockClause()).Select("id", "user_id", "tenant_id").Order("id").Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		byID := make(map[string]*EndedSession, len(rows))
		tenantOf := make(map[string]string, len(rows))
		ended = make([]EndedSession, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
			ended[i] = EndedSession{SessionID: r.ID, UserID: r.UserID}
			byID[r.ID] = &ended[i]
			tenantOf[r.ID] = r.TenantID
		}
		for _, chunk := range chunks(ids, 500) {
			if err := db.Model(&BrowserSession{}).Where("id IN ? AND ended_at IS NULL", chunk).
				Updates(map[string]any{"ended_at": s.now(), "end_reason": reason}).Error; err != nil {
				return err
			}
			if err := revokeSessionTokens(db, chunk); err != nil {
				return err
			}
			var links []sessionClientRow
			if err := db.Where("session_id IN ?", chunk).Find(&links).Error; err != nil {
				return err
			}
			for _, l := range links {
				byID[l.SessionID].ClientIDs = append(byID[l.SessionID].ClientIDs, l.ClientID)
			}
		}
		// The back-channel logouts owed are written in this transaction,
		// so an ending is never committed without them (the outbox).
		return s.enqueueLogouts(ctx, ended, tenantOf)
	})
	return ended, err
}

func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// ListUserSessions returns a user's live sessions, newest first: not
// ended, not expired, and not idle for longer than their limit (by the
// same rule as ActiveSession, with defaultIdle for sessions without one).
func (s *Store) ListUserSessions(ctx context.Context, userID string, defaultIdle time.Duration) ([]BrowserSession, error) {
	now := s.now()
	var rows []BrowserSession
	if err := s.conn(ctx).Where("user_id = ? AND ended_at IS NULL AND expires_at > ?", userID, now).
		Order("created_at DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	live := rows[:0]
	for _, bs := range rows {
		if !bs.idleAt(now, defaultIdle) {
			live = append(live, bs)
		}
	}
	return live, nil
}

// RecordSessionClient remembers that a session signed into a client
// (back-channel logout goes to each of them).
func (s *Store) RecordSessionClient(ctx context.Context, sessionID, clientID string) error {
	return s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&sessionClientRow{SessionID: sessionID, ClientID: clientID, CreatedAt: s.now()}).Error
}

// --- pending authorization requests ---

// CreateAuthRequest stores a pending request.
func (s *Store) CreateAuthRequest(ctx context.Context, ar *AuthRequest) error {
	if ar.CreatedAt.IsZero() {
		ar.CreatedAt = s.now()
	}
	return translate(s.conn(ctx).Create(ar).Error)
}

// AuthRequestFor returns a live pending request only to the browser that
// started it.
func (s *Store) AuthRequestFor(ctx context.Context, id, browserID string) (*AuthRequest, error) {
	var ar AuthRequest
	err := s.conn(ctx).Where("id = ? AND browser_id = ? AND expires_at > ?", id, browserID, s.now()).Take(&ar).Error
	return &ar, translate(err)
}

// MoveAuthRequest moves a pending request from the state from (as the
// step read it) to to: its stage and what the step learnt (user, session,
// sealed enrollment data). It writes only if the stored request is still
// exactly from, so a step cannot be replayed and of two racing steps one
// wins, a move that keeps the stage (a new enrollment secret) included.
func (s *Store) MoveAuthRequest(ctx context.Context, from, to *AuthRequest) error {
	res := s.conn(ctx).Model(&AuthRequest{}).
		Where("id = ? AND stage = ? AND user_id = ? AND session_id = ? AND secret_data = ? AND factor = ? AND ceremony = ? AND proved = ?",
			from.ID, from.Stage, from.UserID, from.SessionID, from.SecretData, from.Factor, from.Ceremony, from.Proved).
		Select("stage", "user_id", "session_id", "secret_data", "factor", "ceremony", "proved").
		Updates(&AuthRequest{Stage: to.Stage, UserID: to.UserID, SessionID: to.SessionID, SecretData: to.SecretData,
			Factor: to.Factor, Ceremony: to.Ceremony, Proved: to.Proved})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteAuthRequest removes a finished request; it reports ErrNotFound when
// another request already finished it.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&AuthRequest{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// --- settings and signing keys ---

// Setting returns a stored value, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var row settingRow
	err := s.conn(ctx).Where("name = ?", name).Take(&row).Error
	return row.Value, translate(err)
}

// SettingOrCreate returns the stored value, storing value first if none
// exists; replicas racing on first start all end up with the same value.
func (s *Store) SettingOrCreate(ctx context.Context, name string, value func() (string, error)) (string, error) {
	if v, err := s.Setting(ctx, name); err == nil {
		return v, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	v, err := value()
	if err != nil {
		return "", err
	}
	if err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&settingRow{Name: name, Value: v}).Error; err != nil {
		return "", err
	}
	return s.Setting(ctx, name)
}

// AddSigningKey stores a new key; the newest unretired key signs.
func (s *Store) AddSigningKey(ctx context.Context, k *SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	return translate(s.conn(ctx).Create(k).Error)
}

// signingKeysLock is the PostgreSQL advisory lock that serialises the
// creation of the first signing key across replicas.
const signingKeysLock = 0x706f7274_6b657973 // "portkeys"

// AddFirstSigningKey stores k only if no unretired key exists, and reports
// whether it did. Replicas that start together on an empty database each
// offer a key; exactly one is stored, and the others load it (before, each
// signed with its own key until the next poll, and relying apps could not
// verify their tokens). On PostgreSQL the check and the insert hold a
// transaction-scoped advisory lock; SQLite's BEGIN IMMEDIATE serialises
// them already.
func (s *Store) AddFirstSigningKey(ctx context.Context, k *SigningKey) (bool, error) {
	added := false
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.conn(ctx)
		if s.dialect == migrations.Postgres {
			if err := db.Exec("SELECT pg_advisory_xact_lock(?)", int64(signingKeysLock)).Error; err != nil {
				return err
			}
		}
		var live int64
		if err := db.Model(&SigningKey{}).Where("retired_at IS NULL").Count(&live).Error; err != nil {
			return err
		}
		if live > 0 {
			return nil
		}
		added = true
		return s.AddSigningKey(ctx, k)
	})
	return added && err == nil, err
}

// RotateSigningKeys adds k and retires every other unretired key, in one
// transaction.
func (s *Store) RotateSigningKeys(ctx context.Context, k *SigningKey) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Model(&SigningKey{}).Where("retired_at IS NULL").
			Update("retired_at", s.now()).Error; err != nil {
			return err
		}
		return s.AddSigningKey(ctx, k)
	})
}

// PublishedSigningKeys returns the keys to publish: unretired ones and
// those retired less than keep ago, newest first.
func (s *Store) PublishedSigningKeys(ctx context.Context, keep time.Duration) ([]SigningKey, error) {
	var ks []SigningKey
	err := s.conn(ctx).Where("retired_at IS NULL OR retired_at > ?", s.now().Add(-keep)).
		Order("created_at DESC, kid").Find(&ks).Error
	return ks, err
}

// SigningKeysVersion is a cheap fingerprint that replicas poll to notice a
// rotation by another replica: rotation adds a key and retires others.
func (s *Store) SigningKeysVersion(ctx context.Context) (string, error) {
	var row struct {
		Total   int64
		Retired int64
	}
	err := s.conn(ctx).Model(&SigningKey{}).
		Select("COUNT(*) AS total, COUNT(retired_at) AS retired").Scan(&row).Error
	return strconv.FormatInt(row.Total, 10) + "/" + strconv.FormatInt(row.Retired, 10), err
}
