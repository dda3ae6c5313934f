package store

import (
	"context"
	"database/sql"
	"fmt"
)

// APIUsage is what one group used of the model API on one day, as the credential proxy
// counts it. Used as a delta (AddAPIUsage) or as a day's totals (APIUsageOn).
type APIUsage struct {
	Group            string `json:"group"`
	Day              string `json:"day"` // YYYY-MM-DD in the host's zone
	InputTokens      int64  `json:"inputTokens"`
	OutputTokens     int64  `json:"outputTokens"`
	CacheReadTokens  int64  `json:"cacheReadTokens"`
	CacheWriteTokens int64  `json:"cacheWriteTokens"`
	Requests         int64  `json:"requests"` // forwarded to the API
	Refusals         int64  `json:"refusals"` // answered by the proxy itself
}

// AddAPIUsage adds each delta to its group's row for its day, in one transaction, so a
// batch is counted whole or not at all.
func (s *Store) AddAPIUsage(ctx context.Context, deltas ...APIUsage) error {
	if len(deltas) == 0 {
		return nil
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		for _, d := range deltas {
			if d.Group == "" || d.Day == "" {
				return fmt.Errorf("usage without a group or a day: %+v", d)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO api_usage (group_folder, day, input_tokens, output_tokens,
				cache_read_tokens, cache_write_tokens, requests, refusals) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (group_folder, day) DO UPDATE SET
					input_tokens = input_tokens + excluded.input_tokens,
					output_tokens = output_tokens + excluded.output_tokens,
					cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
					cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
					requests = requests + excluded.requests,
					refusals = refusals + excluded.refusals`,
				d.Group, d.Day, d.InputTokens, d.OutputTokens, d.CacheReadTokens, d.CacheWriteTokens, d.Requests, d.Refusals); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add API usage: %w", err)
	}
	return nil
}

// APIUsageOn returns every group's usage on day (YYYY-MM-DD), by group.
func (s *Store) APIUsageOn(ctx context.Context, day string) ([]APIUsage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT group_folder, day, input_tokens, output_tokens, cache_read_tokens,
		cache_write_tokens, requests, refusals FROM api_usage WHERE day = ? ORDER BY group_folder`, day)
	if err != nil {
		return nil, fmt.Errorf("API usage on %s: %w", day, err)
	}
	defer rows.Close()
	out := []APIUsage{}
	for rows.Next() {
		var u APIUsage
		if err := rows.Scan(&u.Group, &u.Day, &u.InputTokens, &u.OutputTokens, &u.CacheReadTokens,
			&u.CacheWriteTokens, &u.Requests, &u.Refusals); err != nil {
			return nil, fmt.Errorf("API usage on %s: %w", day, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("API usage on %s: %w", day, err)
	}
	return out, nil
}
