package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// The cluster's shared state. In a cluster every controller keeps its own
// token registry and kill list (its home), and shares what it revokes and
// kills through a replicated JetStream key-value bucket, which every
// controller watches and applies to its own server (revocations go into
// the fleet account's JWT that server enforces) and to its own files. A
// controller that was down reads the whole bucket when it comes back:
// the bucket keeps one replica per node up to three, so a quorum that
// accepted a revocation or a kill still has it. Agents cannot read or
// write the bucket: their permissions allow no JetStream API but the
// module store's reads.
const (
	stateBucket = "AGENTCTL_STATE"
	// Keys: revokedKey + the token user's public key, killedKey + the
	// digest's hex.
	revokedKey = "revoked."
	killedKey  = "killed."
	// maxStateValue bounds one entry (a Token or a Killed, both small).
	maxStateValue = 4096
)

// startState creates the state bucket once the cluster has a quorum (in
// the background, as the status stream), shares this controller's own
// revocations and kills, then applies every entry, past and future.
func (c *Controller) startState(js jetstream.JetStream) {
	if !c.clustered {
		return // alone, a controller has no one to share with
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-c.closed
		cancel()
	}()
	go func() {
		cfg := jetstream.KeyValueConfig{
			Bucket:       stateBucket,
			Description:  "the fleet's revoked join tokens and killed modules, shared by the cluster's controllers",
			MaxValueSize: maxStateValue,
			History:      1,
			Storage:      jetstream.FileStorage,
			Replicas:     c.replicas,
		}
		var kv jetstream.KeyValue
		for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			var err error
			kv, err = js.CreateOrUpdateKeyValue(cctx, cfg)
			ccancel()
			if err == nil {
				break
			}
			c.log.Info("fleet: waiting for the cluster to create the state bucket", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		c.stateMu.Lock()
		c.kv = kv
		c.stateMu.Unlock()
		c.log.Info("fleet: state bucket ready", "replicas", c.replicas)
		c.shareAll(ctx)
		c.watchState(ctx, kv)
	}()
}

// watchState applies every entry of the bucket until ctx ends. The
// watcher re-creates its consumer by itself when the cluster changes.
func (c *Controller) watchState(ctx context.Context, kv jetstream.KeyValue) {
	for {
		w, err := kv.WatchAll(ctx)
		if err == nil {
			for e := range w.Updates() {
				if e == nil || e.Operation() != jetstream.KeyValuePut {
					continue // the end of the initial values, or a deletion
				}
				if err := c.applyState(e.Key(), e.Value()); err != nil {
					c.log.Error("fleet: applying the cluster's state", "key", e.Key(), "err", err)
				}
			}
			_ = w.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
			c.log.Warn("fleet: watching the cluster's state again", "err", err)
		}
	}
}

// applyState applies one entry: a revocation into the token registry and
// the server's account, a kill into the kill list and to the agents. An
// entry is checked as hostile input: only the admin and the controllers
// may write the bucket, but a bad entry must not break the others.
func (c *Controller) applyState(key string, value []byte) error {
	switch {
	case strings.HasPrefix(key, revokedKey):
		var t Token
		if err := json.Unmarshal(value, &t); err != nil {
			return fmt.Errorf("reading a revocation: %w", err)
		}
		if key != revokedKey+t.Key || !nkeys.IsValidPublicUserKey(t.Key) {
			return fmt.Errorf("reading a revocation: key %q does not name a user key", key)
		}
		if t.Revoked.IsZero() {
			return errors.New("reading a revocation: not revoked")
		}
		changed, err := c.id.learnRevoked(t)
		if err != nil || !changed {
			return err
		}
		c.log.Warn("fleet: join token revoked by another controller", "node", t.Node, "key", t.Key)
		return c.Reload()
	case strings.HasPrefix(key, killedKey):
		var k Killed
		if err := json.Unmarshal(value, &k); err != nil {
			return fmt.Errorf("reading a kill: %w", err)
		}
		if err := CheckDigest(k.Digest); err != nil {
			return err
		}
		if key != killedKey+strings.TrimPrefix(k.Digest, "sha256:") {
			return fmt.Errorf("reading a kill: key %q does not name digest %s", key, k.Digest)
		}
		l, added, err := c.recordKill(k)
		if err != nil || !added {
			return err
		}
		c.log.Warn("fleet: module killed by another controller", "digest", k.Digest, "reason", k.Reason)
		return c.announce(l)
	}
	return fmt.Errorf("unknown key %q", key)
}

// share puts one entry in the bucket, unless it is there already. Before
// the bucket is ready it does nothing: shareAll sends the local state
// once it is. A failure (no quorum) is retried in the background.
func (c *Controller) share(key string, v any) {
	c.stateMu.Lock()
	kv := c.kv
	c.stateMu.Unlock()
	if kv == nil {
		return
	}
	if err := put(kv, key, v); err != nil {
		c.log.Warn("fleet: sharing with the cluster failed; retrying", "key", key, "err", err)
		c.retryShare()
	}
}

func put(kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Create, not Put: an entry is never changed, and a restarted
	// controller sharing what the bucket has already writes nothing.
	if _, err := kv.Create(ctx, key, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("sharing %s: %w", key, err)
	}
	return nil
}

// shareAll puts every local revocation and kill in the bucket.
func (c *Controller) shareAll(ctx context.Context) bool {
	c.stateMu.Lock()
	kv := c.kv
	c.stateMu.Unlock()
	if kv == nil {
		return false
	}
	ts, err := c.id.Tokens()
	if err != nil {
		c.log.Error("fleet: sharing the revocations", "err", err)
		return false
	}
	ok := true
	for _, t := range ts {
		if ctx.Err() != nil {
			return false
		}
		if !t.Revoked.IsZero() {
			if err := put(kv, revokedKey+t.Key, t); err != nil {
				c.log.Warn("fleet: sharing a revocation", "err", err)
				ok = false
			}
		}
	}
	l, err := readKillList(filepath.Join(c.id.dir, killedFile))
	if err != nil {
		c.log.Error("fleet: sharing the kills", "err", err)
		return false
	}
	for _, k := range l.Killed {
		if ctx.Err() != nil {
			return false
		}
		if err := put(kv, killedKey+strings.TrimPrefix(k.Digest, "sha256:"), k); err != nil {
			c.log.Warn("fleet: sharing a kill", "err", err)
			ok = false
		}
	}
	return ok
}

// retryShare runs shareAll in the background until it succeeds, one
// such retry at a time.
func (c *Controller) retryShare() {
	if !c.retrying.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.retrying.Store(false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-c.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			if c.shareAll(ctx) {
				return
			}
		}
	}()
}

// shareRevocations shares the revocations recorded in the registry (the
// admin's reload says it changed).
func (c *Controller) shareRevocations() {
	ts, err := c.id.Tokens()
	if err != nil {
		c.log.Error("fleet: sharing the revocations", "err", err)
		return
	}
	for _, t := range ts {
		if !t.Revoked.IsZero() {
			c.share(revokedKey+t.Key, t)
		}
	}
}

// learnRevoked records a revocation made on another controller: the token
// is added to this registry (it was issued elsewhere) or marked revoked.
// changed is false when it was known revoked already.
func (id *Identity) learnRevoked(t Token) (changed bool, err error) {
	err = id.updateTokens(func(r *tokenRegistry) error {
		for i := range r.Tokens {
			if r.Tokens[i].Key != t.Key {
				continue
			}
			if r.Tokens[i].Revoked.IsZero() {
				r.Tokens[i].Revoked = t.Revoked.UTC()
				changed = true
			}
			return nil
		}
		if len(r.Tokens) >= maxTokens {
			return fmt.Errorf("the fleet has recorded %d join tokens, the most it records; remove revoked ones from %s", maxTokens, filepath.Join(id.dir, tokensFile))
		}
		r.Tokens = append(r.Tokens, Token{Node: t.Node, Key: t.Key, Issued: t.Issued.UTC(), Expires: t.Expires.UTC(), Revoked: t.Revoked.UTC()})
		changed = true
		return nil
	})
	return changed, err
}
