package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// Delivery of ping and push notifications (CIBA Core §10.2, §10.3): durable in the store
// (a decision and its notification are one write), leased so one instance delivers each at
// a time, retried with backoff until the request expires.
const (
	deliveryBatch = 16
	deliveryLease = 30 * time.Second
	deliveryTick  = time.Second
	maxBackoff    = time.Minute
)

// Deliverer sends due notifications.
type Deliverer struct {
	Store store.CIBARequestStore
	// Open unseals what the endpoint sealed (Core.Seal).
	Open func(sealed []byte) ([]byte, error)
	// Endpoint returns a client's backchannel_client_notification_endpoint.
	Endpoint func(ctx context.Context, clientID string) (string, error)
	Fetcher  *outbound.Fetcher
	Now      func() time.Time
	Log      *zap.Logger
	// OnOutcome, when set, hears each attempt's outcome: "delivered", "retry" or "dropped"
	// (metrics).
	OnOutcome func(result string)

	wake chan struct{}
	done chan struct{}
	once sync.Once
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		d.wake = make(chan struct{}, 1)
		d.done = make(chan struct{})
	})
}

// Start delivers in the background until ctx ends; Wait waits for that.
func (d *Deliverer) Start(ctx context.Context) {
	d.init()
	go func() {
		defer close(d.done)
		t := time.NewTicker(deliveryTick)
		defer t.Stop()
		for {
			d.DeliverDue(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-d.wake:
			}
		}
	}()
}

// Wait returns once the background delivery has stopped.
func (d *Deliverer) Wait() {
	d.init()
	<-d.done
}

// Wake asks for a delivery pass now (a decision was just recorded).
func (d *Deliverer) Wake() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// DeliverDue claims and attempts the notifications due now.
func (d *Deliverer) DeliverDue(ctx context.Context) {
	now := d.Now()
	due, err := d.Store.ClaimCIBANotifications(ctx, now, now.Add(deliveryLease), deliveryBatch)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Warn("claiming CIBA notifications failed", zap.Error(err))
		}
		return
	}
	for _, r := range due {
		d.deliver(ctx, r)
	}
}

func (d *Deliverer) deliver(ctx context.Context, r *store.CIBARequest) {
	err := d.send(ctx, r)
	now := d.Now()
	switch {
	case err == nil:
		d.outcome("delivered")
		d.Log.Info("CIBA notification delivered", zap.String("request", r.ID), zap.String("client_id", r.ClientID), zap.String("mode", r.Mode))
		d.finish(ctx, r, time.Time{})
	case !now.Before(r.ExpiresAt):
		d.outcome("dropped")
		d.Log.Error("CIBA notification dropped: the request expired before it could be delivered",
			zap.String("request", r.ID), zap.String("client_id", r.ClientID), zap.Int("attempts", r.NotifyAttempts), zap.Error(err))
		d.finish(ctx, r, time.Time{})
	default:
		d.outcome("retry")
		backoff := min(maxBackoff, time.Second<<min(r.NotifyAttempts, 6))
		d.Log.Warn("CIBA notification failed; retrying", zap.String("request", r.ID), zap.String("client_id", r.ClientID),
			zap.Int("attempts", r.NotifyAttempts), zap.Duration("retry_in", backoff), zap.Error(err))
		d.finish(ctx, r, now.Add(backoff))
	}
}

func (d *Deliverer) outcome(result string) {
	if d.OnOutcome != nil {
		d.OnOutcome(result)
	}
}

func (d *Deliverer) finish(ctx context.Context, r *store.CIBARequest, retryAt time.Time) {
	if err := d.Store.FinishCIBANotification(ctx, r.ID, retryAt); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.Log.Warn("recording a CIBA notification failed", zap.String("request", r.ID), zap.Error(err))
	}
}

// send POSTs the notification: {auth_req_id} for ping, the token response (or error) with
// auth_req_id for push, with the client's notification token as the bearer token.
func (d *Deliverer) send(ctx context.Context, r *store.CIBARequest) error {
	plain, err := d.Open(r.NotificationToken)
	if err != nil {
		return err
	}
	var n Notification
	if err := json.Unmarshal(plain, &n); err != nil {
		return err
	}
	body := map[string]any{}
	if r.Mode == ModePush {
		payload, err := d.Open(r.Payload)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(payload, &body); err != nil {
			return err
		}
	}
	body["auth_req_id"] = n.AuthReqID
	endpoint, err := d.Endpoint(ctx, r.ClientID)
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(body)
	header := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + n.Token}}
	reply, err := d.Fetcher.Send(ctx, http.MethodPost, endpoint, header, raw)
	if err != nil {
		return err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return &outbound.StatusError{Code: reply.Status}
	}
	return nil
}
