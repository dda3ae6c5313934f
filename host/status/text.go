package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// WriteText writes the document as `nanoclaw status` shows it: a header line, then tables
// of channels, groups, scheduled tasks, today's model API use and plugins, and the policy
// problems and refused requests when there are any. Times are in loc.
func WriteText(w io.Writer, d Doc, loc *time.Location) error {
	if loc == nil {
		loc = time.Local
	}
	up := time.Duration(d.UptimeSeconds) * time.Second
	fmt.Fprintf(w, "nanoclaw %s (commit %s), up %s since %s\n\n", d.Version, short(d.Commit), up, d.StartedAt.In(loc).Format(time.DateTime))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tSTATE")
	for _, c := range d.Channels {
		state := string(c.State)
		switch {
		case c.State == channel.StatePairingNeeded:
			state += " (pair with `nanoclaw auth`)"
		case c.Detail != "":
			state += ": " + c.Detail
		}
		fmt.Fprintf(tw, "%s\t%s\n", c.Name, state)
	}
	fmt.Fprintln(tw, "\nGROUP\tJID\tMAIN\tRUNNING\tQUEUE")
	for _, g := range d.Groups {
		run := "-"
		if r := g.Running; r != nil {
			run = "since " + r.Started.In(loc).Format(time.TimeOnly)
			if r.TaskID != "" {
				run += " (task " + r.TaskID + ")"
			}
			if r.Idle {
				run += " (idle)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Folder, g.JID, yesNo(g.IsMain), run, queueText(g.Queue))
	}
	if len(d.Waiting) > 0 {
		fmt.Fprintf(tw, "\nwaiting for a container slot:\t%s\n", strings.Join(d.Waiting, ", "))
	}
	if len(d.Tasks) == 0 {
		fmt.Fprintln(tw, "\nscheduled tasks:\tnone")
	} else {
		fmt.Fprintln(tw, "\nTASK\tGROUP\tNEXT RUN\tSCHEDULE\tSTATUS\tPROMPT")
		for _, t := range d.Tasks {
			next := "-"
			if t.NextRun != "" {
				next = t.NextRun
				if ts, err := time.Parse(time.RFC3339Nano, t.NextRun); err == nil {
					next = ts.In(loc).Format(time.DateTime)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%s\n", t.ID, t.Group, next, t.ScheduleType, t.ScheduleValue, t.Status, t.Prompt)
		}
	}
	fmt.Fprintf(tw, "\nMODEL API TODAY (%s)\tINPUT\tCACHE READ\tCACHE WRITE\tOUTPUT\tTOTAL\tBUDGET\tREQUESTS\tREFUSED\n", d.UsageDay)
	for _, g := range d.Groups {
		u := g.UsageToday
		budget := "-"
		if u.Budget > 0 {
			budget = fmt.Sprint(u.Budget)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\n", g.Folder, u.Input, u.CacheRead,
			u.CacheWrite, u.Output, u.TotalTokens, budget, u.Requests, u.Refusals)
	}
	if len(d.Plugins) == 0 {
		fmt.Fprintln(tw, "\nplugins:\tnone loaded")
	} else {
		fmt.Fprintln(tw, "\nPLUGIN\tKIND\tCALLS\tFAULTS")
		for _, p := range d.Plugins {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", p.Name, p.Kind, p.Calls, p.Faults)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.PolicyProblems) > 0 {
		fmt.Fprintln(w, "\npolicy files that cannot be used (their plugins fail closed until they are fixed):")
		for _, p := range d.PolicyProblems {
			problem := p.Problem
			if p.Path != "" && !strings.Contains(problem, p.Path) {
				problem = p.Path + ": " + problem
			}
			fmt.Fprintf(w, "  %s (read by %s, since %s): %s\n", p.Document, p.Plugin, p.Since.In(loc).Format(time.DateTime), problem)
		}
	}
	if len(d.RecentRefusals) > 0 {
		fmt.Fprintln(w, "\nrecent refused IPC requests:")
		for _, o := range d.RecentRefusals {
			fmt.Fprintf(w, "  %s %s %s (%s): %s\n", o.At, o.Group, o.Type, o.Code, o.Reason)
		}
	}
	return nil
}

func queueText(q Queue) string {
	var parts []string
	if q.PendingMessages {
		parts = append(parts, "messages waiting")
	}
	if q.PendingTasks > 0 {
		parts = append(parts, fmt.Sprintf("%d tasks waiting", q.PendingTasks))
	}
	if q.RetryCount > 0 {
		parts = append(parts, fmt.Sprintf("retry %d", q.RetryCount))
	}
	if q.WaitingForSlot {
		parts = append(parts, "waiting for a slot")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// short is a commit's first 12 characters.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
