// Package store is the host's SQLite database (store/nanoclaw.db): chats, messages, tasks,
// sessions, registered groups and router state, in NanoClaw v1's tables and column names so
// an existing NanoClaw database maps across. Schema changes are versioned migrations.
package store

import _ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
