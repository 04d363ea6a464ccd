package syncstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aiff/aiff/domain"
	"github.com/aiff/aiff/sync/hlc"
	"github.com/aiff/aiff/sync/wire"
)

// Resolve settles conflict c in tx for actor: with ActionApply it first appends a hub change
// that writes c's lost value back to its field (merged and validated like any pushed change;
// a value that is no longer valid fails with the reason), then it sets c's resolution fields
// for the store to save. Returns CodeConflict if c is already resolved, CodeInvalid for an
// unknown action.
func Resolve(ctx context.Context, tx Tx, clock *hlc.Clock, now time.Time, actor string, c *Conflict, action Action) error {
	if c.ResolvedAt != nil {
		return domain.Errorf(domain.CodeConflict, "conflict %s is already resolved (%s)", c.ID, c.Resolution)
	}
	switch action {
	case ActionDismiss:
	case ActionApply:
		value := c.Value
		if value == nil {
			value = json.RawMessage("null")
		}
		ch := domain.Change{ID: domain.NewID(now), Origin: domain.HubOrigin, Actor: actor, Entity: c.Entity,
			EntityID: c.EntityID, Op: domain.OpUpsert, Patch: map[string]json.RawMessage{c.Field: value}, At: now}
		resp, err := push(ctx, tx, clock, now, scope{all: true}, []domain.Change{ch}, true)
		if err != nil {
			return err
		}
		if r := resp.Results[0]; r.Status == wire.Rejected {
			return &domain.Error{Code: r.Code, Field: c.Field, Message: "cannot apply the lost value: " + r.Error}
		}
	default:
		return domain.FieldErrorf("action", "action must be dismiss or apply")
	}
	at := now.UTC().Truncate(time.Microsecond)
	c.ResolvedAt, c.ResolvedBy, c.Resolution = &at, actor, string(action)
	return nil
}

// EdgePrincipal is the caller an edge credential authenticates as at time now, or
// CodeUnauthorized if it is revoked or expired.
func EdgePrincipal(c EdgeCredential, now time.Time) (domain.Principal, error) {
	if c.RevokedAt != nil {
		return domain.Principal{}, revoked(&RevokedError{Name: c.Name, At: *c.RevokedAt})
	}
	if c.ExpiresAt != nil && !now.Before(*c.ExpiresAt) {
		return domain.Principal{}, revoked(&RevokedError{Name: c.Name, Expired: true, At: *c.ExpiresAt})
	}
	return domain.Principal{Node: c.Name, Zones: c.Zones}, nil
}
