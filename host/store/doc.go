// Package store is the host's SQLite database (store/nanoclaw.db): chats, messages, tasks,
// sessions, registered groups and router state, in NanoClaw v1's tables and column names so
// an existing NanoClaw database maps across. Schema changes are versioned migrations
// (PRAGMA user_version), each in one transaction; the first one also completes an older
// NanoClaw database in place.
//
// A Store is safe for concurrent use. Timestamps are ISO-8601 UTC strings (Timestamp)
// compared lexically, as in NanoClaw; "" stands for SQL NULL throughout.
package store

import _ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
