package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"
)

// Partner is a company that resells TextKit to its customers.
type Partner struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Industry is an industry a customer belongs to.
type Industry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

const (
	partnersKey   = "ref:partners"
	industriesKey = "ref:industries"
)

// PutPartner creates or renames a partner.
func (s *Store) PutPartner(ctx context.Context, p Partner) error {
	return s.putRef(ctx, partnersKey, p.ID, p)
}

// PutIndustry creates or renames an industry.
func (s *Store) PutIndustry(ctx context.Context, i Industry) error {
	return s.putRef(ctx, industriesKey, i.ID, i)
}

// Partner returns a partner, nil if it does not exist.
func (s *Store) Partner(ctx context.Context, id string) (*Partner, error) {
	var p Partner
	ok, err := s.getRef(ctx, partnersKey, id, &p)
	if !ok || err != nil {
		return nil, err
	}
	return &p, nil
}

// Industry returns an industry, nil if it does not exist.
func (s *Store) Industry(ctx context.Context, id string) (*Industry, error) {
	var i Industry
	ok, err := s.getRef(ctx, industriesKey, id, &i)
	if !ok || err != nil {
		return nil, err
	}
	return &i, nil
}

// HasPartner reports whether a partner exists.
func (s *Store) HasPartner(ctx context.Context, id string) (bool, error) {
	p, err := s.Partner(ctx, id)
	return p != nil, err
}

// HasIndustry reports whether an industry exists.
func (s *Store) HasIndustry(ctx context.Context, id string) (bool, error) {
	i, err := s.Industry(ctx, id)
	return i != nil, err
}

// Partners lists every partner by name.
func (s *Store) Partners(ctx context.Context) ([]Partner, error) {
	var out []Partner
	if err := s.listRef(ctx, partnersKey, func(raw string) error {
		var p Partner
		err := json.Unmarshal([]byte(raw), &p)
		out = append(out, p)
		return err
	}); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Industries lists every industry by name.
func (s *Store) Industries(ctx context.Context) ([]Industry, error) {
	var out []Industry
	if err := s.listRef(ctx, industriesKey, func(raw string) error {
		var i Industry
		err := json.Unmarshal([]byte(raw), &i)
		out = append(out, i)
		return err
	}); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Store) putRef(ctx context.Context, key, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.writeDurably(ctx, key, func(p redis.Pipeliner) { p.HSet(ctx, key, id, b) }); err != nil {
		return fmt.Errorf("write %s %s: %w", key, id, err)
	}
	return nil
}

func (s *Store) getRef(ctx context.Context, key, id string, v any) (bool, error) {
	raw, err := s.rdb.HGet(ctx, key, id).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s %s: %w", key, id, err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("decode %s %s: %w", key, id, err)
	}
	return true, nil
}

func (s *Store) listRef(ctx context.Context, key string, each func(string) error) error {
	all, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("list %s: %w", key, err)
	}
	for _, raw := range all {
		if err := each(raw); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
	}
	return nil
}
