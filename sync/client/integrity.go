package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/aiff/aiff/sync/integrity"
)

// Buckets returns the hub's bucket checksums of zone as a replica at cursor holds them
// (sync/PROTOCOL.md §11).
func (c *Client) Buckets(ctx context.Context, zone string, cursor int64) (integrity.Report, error) {
	var out integrity.Report
	q := url.Values{"zone": {zone}, "cursor": {strconv.FormatInt(cursor, 10)}}
	err := c.getJSON(ctx, "buckets", "/api/sync/buckets", q, &out)
	return out, err
}

// BucketRows returns the rows of one bucket of zone with their histories up to cursor.
func (c *Client) BucketRows(ctx context.Context, zone, bucket string, cursor int64) (integrity.BucketRows, error) {
	var out integrity.BucketRows
	q := url.Values{"zone": {zone}, "cursor": {strconv.FormatInt(cursor, 10)}}
	err := c.getJSON(ctx, "bucket rows", "/api/sync/buckets/"+url.PathEscape(bucket), q, &out)
	return out, err
}

// getJSON GETs path and decodes its JSON answer into v.
func (c *Client) getJSON(ctx context.Context, op, path string, q url.Values, v any) error {
	req, err := c.newRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(op, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(v); err != nil {
		return &Error{Op: op, Err: err, Detail: "decode " + op + ": " + err.Error()}
	}
	return nil
}
