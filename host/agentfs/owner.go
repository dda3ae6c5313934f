package agentfs

import (
	"errors"
	"strconv"
)

// The image's "node" user: the only user its /etc/passwd knows.
const (
	NodeUID = 1000
	NodeGID = 1000
)

// Owner is the user agent containers run as, and so the owner of what they must write. It
// is computed once, from the host's own uid, and flows both into the container spec and into
// the preparation of the agent's directories, so the two never disagree.
type Owner struct {
	UID, GID int
	// Chown is set when what the host creates is not already the agent's: the host runs as
	// root, so the directories and files the agent must write are handed to UID:GID.
	Chown bool
}

// OwnerFor applies NanoClaw's rule to the host's uid and gid: a host running as root runs
// agents as the image's node user (1000:1000) and hands them what they must write; a host
// running as anyone else runs agents as itself, so everything it creates is already theirs
// and it never needs (nor could) chown.
func OwnerFor(hostUID, hostGID int) Owner {
	if hostUID == 0 {
		return Owner{UID: NodeUID, GID: NodeGID, Chown: true}
	}
	return Owner{UID: hostUID, GID: hostGID}
}

// User is the container's --user value, "uid:gid".
func (o Owner) User() string {
	return strconv.Itoa(o.UID) + ":" + strconv.Itoa(o.GID)
}

// validate refuses an owner that would run an agent as root or as the root group: a zero
// Owner must never slip through as "0:0".
func (o Owner) validate() error {
	if o.UID <= 0 || o.GID <= 0 {
		return errors.New("agentfs: agents never run as root (uid or gid 0); build the owner with OwnerFor")
	}
	return nil
}
