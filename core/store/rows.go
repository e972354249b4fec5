package store

import "gorm.io/gorm"

// firstRow reads the first row q finds, as conv makes it; ErrNotFound when
// there is none. A database error comes back as it is: the caller says
// what it was reading.
func firstRow[R, T any](q *gorm.DB, conv func(*R) T) (T, error) {
	var rows []R
	var zero T
	if err := q.Limit(1).Find(&rows).Error; err != nil {
		return zero, err
	}
	if len(rows) == 0 {
		return zero, ErrNotFound
	}
	return conv(&rows[0]), nil
}

// allRows reads every row q finds, each as conv makes it, in q's order.
func allRows[R, T any](q *gorm.DB, conv func(*R) T) ([]T, error) {
	var rows []R
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = conv(&rows[i])
	}
	return out, nil
}
