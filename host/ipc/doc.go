// Package ipc is the host's side of the agents' file-based IPC: it watches every group's
// data/ipc/<folder>/messages and tasks directories (fsnotify, not a poll), reads each request
// safely (no symlinks followed, size capped), asks the ipc plugin chain whether it is
// allowed, hands allowed requests to the host to perform, and removes the file. Anything
// that goes wrong leaves the file in data/ipc/errors/ with a reason beside it.
//
// It also writes the snapshots agents read: current_tasks.json and available_groups.json.
package ipc
