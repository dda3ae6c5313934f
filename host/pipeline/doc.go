// Package pipeline carries inbound messages from channels to group queues and agent output
// back to channels; format.go is its prompt and outbound formatting.
package pipeline
