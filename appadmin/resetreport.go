package appadmin

import (
	"fmt"
	"strings"
)

// String prints the report for a person: what was done, or in a dry run
// what would be, and where the topic lists came from.
func (r *ResetReport) String() string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	verb := func(done, would string) string {
		if r.DryRun {
			return would
		}
		return done
	}
	if r.DryRun {
		fmt.Fprintf(&b, "Dry run of the reset of application %s: nothing is changed.\n", r.ApplicationID)
	} else {
		fmt.Fprintf(&b, "Reset of application %s.\n", r.ApplicationID)
	}

	fmt.Fprintf(&b, "\nConsumer group %s: %s\n", r.Group.ID, groupState(r.Group))
	if len(r.RemovedMembers) > 0 {
		fmt.Fprintf(&b, "  %s (--force):\n", verb("removed members", "would remove members"))
		for _, m := range r.RemovedMembers {
			fmt.Fprintf(&b, "    %s\n", m)
		}
	}

	fmt.Fprintf(&b, "\nInput topics, from %s: %s\n", inputSource(r.InputTopicsFrom), listOrNone(r.InputTopics))
	if len(r.MissingInputs) > 0 {
		fmt.Fprintf(&b, "  not in the cluster, nothing to rewind: %s\n", strings.Join(r.MissingInputs, ", "))
	}
	if len(r.Offsets) > 0 {
		fmt.Fprintf(&b, "  committed offsets %s %v:\n", verb("moved to", "would move to"), r.Position)
		width := 0
		for _, o := range r.Offsets {
			width = max(width, len(o.TopicPartition.String()))
		}
		for _, o := range r.Offsets {
			from := "none"
			if o.From >= 0 {
				from = fmt.Sprint(o.From)
			}
			line := fmt.Sprintf("    %-*s  %s -> %d", width, o.TopicPartition, from, o.To)
			if o.From == o.To {
				line += " (unchanged)"
			}
			if o.Note != "" {
				line += " (" + o.Note + ")"
			}
			b.WriteString(line + "\n")
		}
	}
	if len(r.Untouched) > 0 {
		fmt.Fprintf(&b, "  committed offsets left as they are (not input topics): %s\n", strings.Join(r.Untouched, ", "))
	}

	if r.InternalTopicsFrom == FromOptions {
		b.WriteString("\nInternal topics, as given (--internal-topics):")
	} else {
		fmt.Fprintf(&b, "\nInternal topics, found by %s:", r.InternalTopicsFrom)
	}
	r.writeInternal(&b, verb)
	return b.String()
}

// writeInternal writes the internal topics, the local state and the
// closing notes.
func (r *ResetReport) writeInternal(b *strings.Builder, verb func(string, string) string) {
	if len(r.InternalTopics) == 0 {
		b.WriteString(" none\n")
	} else {
		fmt.Fprintf(b, " %s\n", verb("deleted", "would delete"))
		for _, t := range r.InternalTopics {
			fmt.Fprintf(b, "    %s\n", t)
		}
	}
	if len(r.DeletedOffsets) > 0 {
		var tps []string
		for _, tp := range r.DeletedOffsets {
			tps = append(tps, tp.String())
		}
		fmt.Fprintf(b, "  %s: %s\n", verb("deleted their committed offsets", "would delete their committed offsets"), strings.Join(tps, ", "))
	}

	b.WriteString("\nLocal state: ")
	switch {
	case r.State == nil:
		b.WriteString("left alone (give --state-dir to delete it)\n")
	case !r.State.Exists:
		fmt.Fprintf(b, "none at %s\n", r.State.Path)
	default:
		fmt.Fprintf(b, "%s %s (%d task directories)\n", verb("deleted", "would delete"), r.State.Path, len(r.State.Tasks))
	}
	b.WriteString("\nOutput topics are left as they are: downstream consumers will see the results again.\n")
	if r.State == nil {
		b.WriteString("Delete every instance's local state (its state directory's " + r.ApplicationID +
			" folder) before restarting, or the stores keep their old contents.\n")
	}
}

// groupState describes a group in a few words.
func groupState(g Group) string {
	switch {
	case !g.Exists:
		return "none (no members, no committed offsets)"
	case len(g.Members) == 0:
		return g.State + ", no members"
	}
	return fmt.Sprintf("%s, %d member(s)", g.State, len(g.Members))
}

func inputSource(s TopicSource) string {
	if s == FromOptions {
		return "--input-topics"
	}
	return string(s)
}
