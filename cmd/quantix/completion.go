package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

func completionCommand() *command {
	return &command{
		name:    "completion",
		args:    "bash|zsh",
		summary: "print a shell completion script",
		help: `Prints the completion script of a shell. It completes commands, flags, the
values of flags with a fixed set of values, and VM, node and user names and
token ids (asking the API with 'quantix vm list -q', 'quantix node list -q',
'quantix user list -q' and 'quantix token list -q', with the -address, -token
and -ca-cert of the command line being completed, else QUANTIX_ADDR,
QUANTIX_TOKEN, QUANTIX_CACERT and the saved login).

bash:  source <(quantix completion bash)          (e.g. in ~/.bashrc)
zsh:   source <(quantix completion zsh)           (after compinit, e.g. in ~/.zshrc)
       or: quantix completion zsh > "${fpath[1]}/_quantix"`,
		complete: "bash zsh",
		setup: func(a *app, fs *flag.FlagSet) runner {
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "SHELL"); err != nil {
					return err
				}
				spec := completionSpec()
				switch args[0] {
				case "bash":
					return writeBashCompletion(a.stdout, spec)
				case "zsh":
					return writeZshCompletion(a.stdout, spec)
				}
				return usagef("no completion for shell %q: bash or zsh", args[0])
			}
		},
	}
}

// globalFlagNames are the flags every command takes.
var globalFlagNames = []string{"-address", "-token", "-ca-cert", "-output", "-h"}

// flagValues are the values of flags that take one of a fixed set; the
// words "vm", "node" and "file" stand for VM names, node names and files.
var flagValues = map[string]string{
	"output":         "table json",
	"format":         "json csv txt",
	"order":          "asc desc",
	"level":          "debug info warn error",
	"source":         "ui audit system qemu",
	"component":      "vm storage network node cluster auth settings dashboard console logs alerts monitoring updates folders images system qemu",
	"state":          "CREATING STARTING RUNNING STOPPING STOPPED PAUSED SUSPENDED REBOOTING CRASHED MIGRATING DELETING ERROR UNKNOWN LOST TERMINATED",
	"origin":         "control-plane host-discovered imported",
	"restart-policy": "never on-crash always",
	"boot":           "hd cdrom network",
	"user-action":    "true false",
	"vm":             "vm",
	"node":           "node",
	"o":              "file",
	"ca-cert":        "file",
	"role":           "admin operator viewer",
}

// compGroup is a command with subcommands ("" is the root).
type compGroup struct {
	path string
	subs []string
}

// compLeaf is a command that runs.
type compLeaf struct {
	path     string
	flags    []string // with their dash, the global ones included
	complete string
}

// compSpec is what the completion scripts know of the command tree.
type compSpec struct {
	groups     []compGroup
	leaves     []compLeaf
	valueFlags []string // flags that take a value, with their dash
	boolFlags  []string
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// completionSpec walks the command tree.
func completionSpec() *compSpec {
	s := &compSpec{}
	values := map[string]bool{"-address": true, "-token": true, "-ca-cert": true, "-output": true}
	bools := map[string]bool{}
	var walk func(path string, cmds []*command)
	walk = func(path string, cmds []*command) {
		g := compGroup{path: path}
		for _, c := range cmds {
			g.subs = append(g.subs, c.name)
			p := strings.TrimSpace(path + " " + c.name)
			if c.setup == nil {
				walk(p, c.subs)
				continue
			}
			leaf := compLeaf{path: p, complete: c.complete}
			commandFlags(p, c).VisitAll(func(f *flag.Flag) {
				name := "-" + f.Name
				leaf.flags = append(leaf.flags, name)
				if isBoolFlag(f) {
					bools[name] = true
				} else {
					values[name] = true
				}
			})
			leaf.flags = append(leaf.flags, globalFlagNames...)
			s.leaves = append(s.leaves, leaf)
		}
		if path == "" {
			g.subs = append(g.subs, "help")
		}
		s.groups = append(s.groups, g)
	}
	walk("", commands())
	var top []string
	for _, c := range commands() {
		top = append(top, c.name)
	}
	s.leaves = append(s.leaves, compLeaf{path: "help", complete: strings.Join(top, " ")})
	for f := range values {
		s.valueFlags = append(s.valueFlags, f)
	}
	for f := range bools {
		s.boolFlags = append(s.boolFlags, f)
	}
	sort.Strings(s.valueFlags)
	sort.Strings(s.boolFlags)
	sort.Slice(s.groups, func(i, j int) bool { return s.groups[i].path < s.groups[j].path })
	return s
}

// shellCase is a case pattern matching a command path, quoted for bash and
// zsh.
func shellCase(paths ...string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = `"` + p + `"`
	}
	return strings.Join(q, "|")
}

// withDoubleDash adds the "--name" spelling of every flag to a case
// pattern, as the flag package accepts both.
func withDoubleDash(flags []string) string {
	var out []string
	for _, f := range flags {
		out = append(out, f, "-"+f)
	}
	return strings.Join(out, "|")
}

func (s *compSpec) groupPaths() []string {
	out := make([]string, len(s.groups))
	for i, g := range s.groups {
		out[i] = g.path
	}
	return out
}

// byComplete groups the leaves by what their arguments complete to.
func (s *compSpec) byComplete() map[string][]string {
	out := map[string][]string{}
	for _, l := range s.leaves {
		if l.complete != "" {
			out[l.complete] = append(out[l.complete], l.path)
		}
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func writeBashCompletion(w io.Writer, s *compSpec) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# bash completion for quantix. Load it with:\n#   source <(quantix completion bash)\n\n")
	p("_quantix_names() {\n")
	p("    \"${COMP_WORDS[0]}\" \"${qargs[@]}\" \"$@\" 2>/dev/null\n}\n\n")
	p("_quantix() {\n")
	p("    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\" cmdpath=\"\" w words=\"\"\n")
	p("    local -a qargs=()\n")
	p("    local i npos=0\n")
	p("    (( COMP_CWORD > 0 )) && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	p("    for (( i = 1; i < COMP_CWORD; i++ )); do\n")
	p("        w=\"${COMP_WORDS[i]}\"\n")
	p("        case \"$w\" in\n")
	p("            -address|--address|-token|--token|-ca-cert|--ca-cert)\n")
	p("                qargs+=(\"$w\" \"${COMP_WORDS[i+1]}\"); (( i++ )); continue ;;\n")
	p("            %s)\n                (( i++ )); continue ;;\n", withDoubleDash(s.valueFlags))
	p("            -*) continue ;;\n")
	p("        esac\n")
	p("        case \"$cmdpath\" in\n")
	p("            %s) cmdpath=\"${cmdpath:+$cmdpath }$w\" ;;\n", shellCase(s.groupPaths()...))
	p("            *) (( npos++ )) ;;\n")
	p("        esac\n")
	p("    done\n")
	p("    case \"$prev\" in\n")
	for _, name := range sortedKeys(flagValues) {
		pat := withDoubleDash([]string{"-" + name})
		switch v := flagValues[name]; v {
		case "vm":
			p("        %s) COMPREPLY=($(compgen -W \"$(_quantix_names vm list -q)\" -- \"$cur\")); return ;;\n", pat)
		case "node":
			p("        %s) COMPREPLY=($(compgen -W \"$(_quantix_names node list -q)\" -- \"$cur\")); return ;;\n", pat)
		case "file":
			p("        %s) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", pat)
		default:
			p("        %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", pat, v)
		}
	}
	p("        %s) return ;;\n", withDoubleDash(s.valueFlags))
	p("    esac\n")
	p("    if [[ \"$cur\" == -* ]]; then\n")
	p("        case \"$cmdpath\" in\n")
	for _, l := range s.leaves {
		if len(l.flags) > 0 {
			p("            %s) words=%q ;;\n", shellCase(l.path), strings.Join(l.flags, " "))
		}
	}
	p("            *) words=%q ;;\n", strings.Join(globalFlagNames, " "))
	p("        esac\n")
	p("        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n")
	p("        return\n")
	p("    fi\n")
	p("    case \"$cmdpath\" in\n")
	for _, g := range s.groups {
		p("        %s) words=%q ;;\n", shellCase(g.path), strings.Join(g.subs, " "))
	}
	byComplete := s.byComplete()
	for _, kind := range sortedKeys(byComplete) {
		pat := shellCase(byComplete[kind]...)
		switch kind {
		case "vm":
			p("        %s) (( npos > 0 )) && return; words=\"$(_quantix_names vm list -q)\" ;;\n", pat)
		case "node", "user", "token":
			p("        %s) (( npos > 0 )) && return; words=\"$(_quantix_names %s list -q)\" ;;\n", pat, kind)
		case "file":
			p("        %s) (( npos > 0 )) && return; compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", pat)
		default:
			p("        %s) (( npos > 0 )) && return; words=%q ;;\n", pat, kind)
		}
	}
	p("        *) return ;;\n")
	p("    esac\n")
	p("    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n")
	p("}\n\n")
	p("complete -F _quantix quantix\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeZshCompletion(w io.Writer, s *compSpec) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("#compdef quantix\n")
	p("# zsh completion for quantix. Load it with:\n#   source <(quantix completion zsh)\n")
	p("# after compinit, or save it as _quantix in a directory of $fpath.\n\n")
	p("_quantix_names() {\n")
	p("    local -a names\n")
	p("    names=(${(f)\"$(\"${words[1]}\" \"${qargs[@]}\" \"$@\" 2>/dev/null)\"})\n")
	p("    (( ${#names} )) && compadd -- \"${names[@]}\"\n}\n\n")
	p("_quantix() {\n")
	p("    local cur=\"${words[CURRENT]}\" prev=\"${words[CURRENT-1]}\" cmdpath=\"\" w\n")
	p("    local -a qargs\n")
	p("    local i npos=0\n")
	p("    for (( i = 2; i < CURRENT; i++ )); do\n")
	p("        w=\"${words[i]}\"\n")
	p("        case \"$w\" in\n")
	p("            -address|--address|-token|--token|-ca-cert|--ca-cert)\n")
	p("                qargs+=(\"$w\" \"${words[i+1]}\"); (( i++ )); continue ;;\n")
	p("            %s)\n                (( i++ )); continue ;;\n", withDoubleDash(s.valueFlags))
	p("            -*) continue ;;\n")
	p("        esac\n")
	p("        case \"$cmdpath\" in\n")
	p("            %s) cmdpath=\"${cmdpath:+$cmdpath }$w\" ;;\n", shellCase(s.groupPaths()...))
	p("            *) (( npos++ )) ;;\n")
	p("        esac\n")
	p("    done\n")
	p("    case \"$prev\" in\n")
	for _, name := range sortedKeys(flagValues) {
		pat := withDoubleDash([]string{"-" + name})
		switch v := flagValues[name]; v {
		case "vm":
			p("        %s) _quantix_names vm list -q; return ;;\n", pat)
		case "node":
			p("        %s) _quantix_names node list -q; return ;;\n", pat)
		case "file":
			p("        %s) _files; return ;;\n", pat)
		default:
			p("        %s) compadd -- %s; return ;;\n", pat, v)
		}
	}
	p("        %s) return 1 ;;\n", withDoubleDash(s.valueFlags))
	p("    esac\n")
	p("    if [[ \"$cur\" == -* ]]; then\n")
	p("        case \"$cmdpath\" in\n")
	for _, l := range s.leaves {
		if len(l.flags) > 0 {
			p("            %s) compadd -- %s ;;\n", shellCase(l.path), strings.Join(l.flags, " "))
		}
	}
	p("            *) compadd -- %s ;;\n", strings.Join(globalFlagNames, " "))
	p("        esac\n")
	p("        return\n")
	p("    fi\n")
	p("    case \"$cmdpath\" in\n")
	for _, g := range s.groups {
		p("        %s) compadd -- %s ;;\n", shellCase(g.path), strings.Join(g.subs, " "))
	}
	byComplete := s.byComplete()
	for _, kind := range sortedKeys(byComplete) {
		pat := shellCase(byComplete[kind]...)
		switch kind {
		case "vm":
			p("        %s) (( npos > 0 )) && return 1; _quantix_names vm list -q ;;\n", pat)
		case "node", "user", "token":
			p("        %s) (( npos > 0 )) && return 1; _quantix_names %s list -q ;;\n", pat, kind)
		case "file":
			p("        %s) (( npos > 0 )) && return 1; _files ;;\n", pat)
		default:
			p("        %s) (( npos > 0 )) && return 1; compadd -- %s ;;\n", pat, kind)
		}
	}
	p("        *) return 1 ;;\n")
	p("    esac\n")
	p("}\n\n")
	p("if [[ \"${funcstack[1]}\" == \"_quantix\" ]]; then\n")
	p("    _quantix \"$@\"\n")
	p("else\n")
	p("    compdef _quantix quantix\n")
	p("fi\n")
	_, err := io.WriteString(w, b.String())
	return err
}
