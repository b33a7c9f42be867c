package config

import (
	"fmt"
	"slices"
	"strings"
)

// knownKeys holds the dotted YAML key of every setting, knownSections the
// mappings that hold them ("db", "sessions", ...).
var knownKeys, knownSections = func() (keys, sections map[string]bool) {
	keys, sections = make(map[string]bool), make(map[string]bool)
	for _, s := range settings {
		keys[s.key] = true
		for i := strings.IndexByte(s.key, '.'); i >= 0; i = indexFrom(s.key, '.', i+1) {
			sections[s.key[:i]] = true
		}
	}
	return keys, sections
}()

func indexFrom(s string, c byte, from int) int {
	if i := strings.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// yamlKeys lists the dotted keys of every setting, then the sections.
func yamlKeys() []string {
	keys := make([]string, 0, len(settings)+len(knownSections))
	for _, s := range settings {
		keys = append(keys, s.key)
	}
	for _, s := range settings {
		for section := range knownSections {
			if strings.HasPrefix(s.key, section+".") && !slices.Contains(keys, section) {
				keys = append(keys, section)
			}
		}
	}
	return keys
}

// envNames lists the environment variable of every setting.
func envNames() []string {
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = envName(s.key)
	}
	return names
}

// didYouMean returns `; did you mean "X"?` for the known name nearest to
// typed, or "" when none is near: within two edits (case aside), or one
// being the other plus a suffix, or (for dotted keys) the same last part in
// another section, as "idle" for "sessions.idle".
func didYouMean(typed string, known []string) string {
	best, bestDist := "", 3
	t := strings.ToLower(typed)
	for _, k := range known {
		d := levenshtein(t, strings.ToLower(k))
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		for _, k := range known {
			kl := strings.ToLower(k)
			if len(kl) >= 4 && len(t) >= 4 && (strings.HasPrefix(t, kl) || strings.HasPrefix(kl, t)) {
				best = k
				break
			}
			if last(t) == last(kl) {
				best = k
				break
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// last is the part of a dotted key after its last dot.
func last(key string) string {
	return key[strings.LastIndexByte(key, '.')+1:]
}

// levenshtein is the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
