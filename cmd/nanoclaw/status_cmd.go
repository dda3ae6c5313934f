package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
)

// timeNow is the clock the CLI stamps records with.
func timeNow() time.Time { return time.Now() }

// cmdStatus shows the running host: groups, running containers, the queue, plugins, usage
// and recent IPC errors.
func cmdStatus(e env) *cobra.Command {
	c := &cobra.Command{
		Use:     "status",
		Short:   "Show the running host: groups, containers, queue, plugins, model use, refusals",
		Example: "  nanoclaw status\n  nanoclaw status --json",
		Args:    cobra.NoArgs,
	}
	asJSON := c.Flags().Bool("json", false, "print the raw status document")
	c.RunE = body(func(ctx context.Context, _ *cobra.Command, _ []string) int {
		return runStatus(ctx, e, *asJSON)
	})
	return c
}

// runStatus is the body of cmdStatus.
func runStatus(ctx context.Context, e env, asJSON bool) int {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	var raw json.RawMessage
	if err := control.GetJSON(ctx, paths.ControlSocket, "/status", &raw); err != nil {
		if errors.Is(err, control.ErrNoHost) {
			fmt.Fprintln(e.stderr, "nanoclaw: no running host (start it with `nanoclaw run` or `make run`)")
			return 1
		}
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if asJSON {
		fmt.Fprintln(e.stdout, string(raw))
		return 0
	}
	var s statusView
	if err := json.Unmarshal(raw, &s); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw: status:", err)
		return 2
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "channels:\t%v\n\n", s.Channels)
	fmt.Fprintln(tw, "GROUP\tJID\tMAIN\tRUNNING\tQUEUE")
	sort.Slice(s.Groups, func(i, j int) bool { return s.Groups[i].Folder < s.Groups[j].Folder })
	for _, g := range s.Groups {
		run := "-"
		if r, ok := s.Running[g.Folder]; ok {
			run = "since " + r.Started.Format(time.TimeOnly)
			if r.Task != "" {
				run += " (task " + r.Task + ")"
			}
		}
		q := "-"
		for _, qs := range s.Queue {
			if qs.JID == g.JID && (qs.PendingMessages || qs.PendingTasks > 0 || qs.RetryCount > 0) {
				q = fmt.Sprintf("messages:%v tasks:%d retries:%d", qs.PendingMessages, qs.PendingTasks, qs.RetryCount)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", g.Folder, g.JID, g.IsMain, run, q)
	}
	writeUsage(tw, s)
	fmt.Fprintf(tw, "\nwaiting for a slot:\t%v\n\nPLUGIN\tKIND\tCALLS\tFAULTS\n", s.Waiting)
	for _, p := range s.Plugins {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", p.Name, p.Kind, p.Calls, p.Faults)
	}
	_ = tw.Flush()
	if len(s.PolicyProblems) > 0 {
		fmt.Fprintln(e.stdout, "\npolicy files that cannot be used (their plugins fail closed until they are fixed):")
		for _, p := range s.PolicyProblems {
			problem := p.Problem
			if p.Path != "" && !strings.Contains(problem, p.Path) {
				problem = p.Path + ": " + problem
			}
			fmt.Fprintf(e.stdout, "  %s (read by %s, since %s): %s\n", p.Document, p.Plugin, p.Since.Local().Format(time.DateTime), problem)
		}
	}
	if len(s.Errors) > 0 {
		fmt.Fprintln(e.stdout, "\nrecent refused IPC requests:")
		for _, o := range s.Errors {
			fmt.Fprintf(e.stdout, "  %s %s %s (%s): %s\n", o.At, o.Group, o.Type, o.Code, o.Reason)
		}
	}
	return 0
}

// statusView is the part of /status the table shows.
type statusView struct {
	Channels []string
	Groups   []struct {
		JID, Folder string
		IsMain      bool
	}
	Running map[string]struct {
		Task    string
		Started time.Time
	}
	Queue []struct {
		JID             string
		PendingMessages bool
		PendingTasks    int
		RetryCount      int
	}
	Waiting []string
	Plugins []struct {
		Name, Kind    string
		Calls, Faults uint64
	}
	Usage  map[string]usageView
	Errors []struct{ At, Group, Type, Code, Reason string } `json:"recentIpcErrors"`

	// PolicyProblems are the policy files plugins fail closed on (plugin.Problem).
	PolicyProblems []struct {
		Document, Path, Plugin, Problem string
		Since                           time.Time
	} `json:"policyProblems"`
}

// usageView is one group's model API use today, as credproxy.Usage encodes it.
type usageView struct {
	Day                                            string
	InputTokens, CacheReadTokens, CacheWriteTokens int64
	OutputTokens, TotalTokens, Budget              int64
	Requests, Refusals                             int64
}

// writeUsage adds the table of each group's model API use today.
func writeUsage(tw *tabwriter.Writer, s statusView) {
	day := ""
	for _, u := range s.Usage {
		day = max(day, u.Day)
	}
	fmt.Fprintf(tw, "\nMODEL API TODAY (%s)\tINPUT\tCACHE READ\tCACHE WRITE\tOUTPUT\tTOTAL\tBUDGET\tREQUESTS\tREFUSED\n", day)
	for _, g := range s.Groups {
		u := s.Usage[g.Folder]
		budget := "-"
		if u.Budget > 0 {
			budget = fmt.Sprint(u.Budget)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\n", g.Folder, u.InputTokens, u.CacheReadTokens,
			u.CacheWriteTokens, u.OutputTokens, u.TotalTokens, budget, u.Requests, u.Refusals)
	}
}
