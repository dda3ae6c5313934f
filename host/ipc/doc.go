// Package ipc is the host's side of the agents' IPC requests (send a message, schedule and
// manage tasks, register groups, list tasks and chats), which arrive over each group's
// agent socket (host/agentsock). Every request is read strictly (one JSON object, no
// repeated keys, known fields of the right type), authorized by the ipc plugin chain with
// the group its socket belongs to, and performed by the host, and the agent gets an answer:
// the result, or why not. Refusals are kept in the store for the operator.
package ipc
