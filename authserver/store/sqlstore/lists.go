package sqlstore

import (
	"fmt"
	"strings"
)

// listQuery builds the WHERE, ORDER BY and LIMIT of the admin listings. Each filter is
// added only when set, rather than as one condition that also matches an empty argument, so
// the planner can use the index of the column. These queries are not prepared: they are rare and vary in shape.
type listQuery struct {
	where []string
	args  []any
}

// param adds v as the next argument and returns its placeholder.
func (q *listQuery) param(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

// equal keeps rows whose col is v, when v is set.
func (q *listQuery) equal(col, v string) {
	if v != "" {
		q.where = append(q.where, col+" = "+q.param(v))
	}
}

// after keeps rows whose col sorts after v, when v is set (keyset paging).
func (q *listQuery) after(col, v string) {
	if v != "" {
		q.where = append(q.where, col+" > "+q.param(v))
	}
}

// cond adds a condition with its own placeholders, numbered by the caller from param.
func (q *listQuery) cond(c string) { q.where = append(q.where, c) }

// sql returns base with the conditions, ordered by order, limited to limit rows when
// limit > 0.
func (q *listQuery) sql(base, order string, limit int) string {
	var b strings.Builder
	b.WriteString(base)
	if len(q.where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(q.where, " AND "))
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(order)
	if limit > 0 {
		b.WriteString(" LIMIT ")
		b.WriteString(q.param(limit))
	}
	return b.String()
}
