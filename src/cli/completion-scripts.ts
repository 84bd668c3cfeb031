// The bash and zsh scripts `wal-g completion` prints. Both ask the binary itself (`wal-g __complete …`) for
// candidates, so they never go stale, and obey the directive bits described in complete.ts.

/** A bash function name cannot contain `-`. */
function shellIdentifier(program: string): string {
  return program.replace(/[^A-Za-z0-9_]/g, '_');
}

/** bash: candidates with descriptions when several match, plain names when one does; file fallback per directive. */
export function bashCompletionScript(program: string): string {
  const name = shellIdentifier(program);
  return `# bash completion for ${program}                               -*- shell-script -*-
# Load it with: source <(${program} completion bash)

_${name}_complete() {
    local current words word_index
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        # bash-completion keeps "--flag=value" and "host:port" as one word.
        _get_comp_words_by_ref -n =: current words word_index
    else
        current="\${COMP_WORDS[COMP_CWORD]}"
        words=("\${COMP_WORDS[@]}")
        word_index=$COMP_CWORD
    fi

    local output
    output=$("\${words[0]}" __complete "\${words[@]:1:word_index-1}" "$current" 2>/dev/null) || return
    local directive=\${output##*:}
    output=\${output%:*}
    output=\${output%$'\\n'}
    [[ $directive =~ ^[0-9]+$ ]] || directive=0

    COMPREPLY=()
    (( directive & 1 )) && return
    (( directive & 2 )) && compopt -o nospace 2>/dev/null
    (( directive & 4 )) && compopt +o default 2>/dev/null

    if (( directive & 8 )); then
        local extension pattern=""
        while IFS= read -r extension; do
            [[ -n $extension ]] && pattern+="\${pattern:+|}$extension"
        done <<< "$output"
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -X "!*.@($pattern)" -- "$current") $(compgen -d -- "$current"))
        return
    fi
    if (( directive & 16 )); then
        compopt -o filenames 2>/dev/null
        if [[ -n $output ]]; then
            COMPREPLY=($(cd "$output" 2>/dev/null && compgen -d -- "$current"))
        else
            COMPREPLY=($(compgen -d -- "$current"))
        fi
        return
    fi

    local line candidates=() descriptions=() longest=0
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        local candidate=\${line%%$'\\t'*}
        local description=""
        [[ $line == *$'\\t'* ]] && description=\${line#*$'\\t'}
        candidates+=("$candidate")
        descriptions+=("$description")
        (( \${#candidate} > longest )) && longest=\${#candidate}
    done <<< "$output"

    # Descriptions only when bash lists the alternatives (second Tab); a normal Tab needs the bare names so that
    # bash can insert their common prefix.
    if (( \${#candidates[@]} > 1 )) && [[ $COMP_TYPE == 63 ]]; then
        local index
        for index in "\${!candidates[@]}"; do
            if [[ -n \${descriptions[index]} ]]; then
                COMPREPLY+=("$(printf '%-*s  (%s)' "$longest" "\${candidates[index]}" "\${descriptions[index]}")")
            else
                COMPREPLY+=("\${candidates[index]}")
            fi
        done
    else
        COMPREPLY=("\${candidates[@]}")
    fi
    # bash splits words at ":"; drop the part before it that is already on the line.
    if declare -F __ltrim_colon_completions >/dev/null 2>&1; then
        __ltrim_colon_completions "$current"
    fi
}

complete -o default -F _${name}_complete ${program}
`;
}

/** zsh: `_describe` candidates with descriptions; `_files` fallback per directive. */
export function zshCompletionScript(program: string): string {
  const name = shellIdentifier(program);
  return `#compdef ${program}
# zsh completion for ${program}. Put this file in a directory of $fpath as _${program}, or source it.

_${name}() {
    local -a request candidates
    local output directive line candidate description

    request=("\${(@)words[2,CURRENT-1]}" "\${words[CURRENT]}")
    output=$(\${words[1]} __complete "\${request[@]}" 2>/dev/null) || return 1
    directive=\${output##*:}
    directive=\${directive%%$'\\n'*}
    [[ $directive == <-> ]] || directive=0
    (( directive & 1 )) && return 1

    for line in "\${(@f)output}"; do
        [[ -z $line || $line == :* ]] && continue
        candidate=\${line%%$'\\t'*}
        description=""
        [[ $line == *$'\\t'* ]] && description=\${line#*$'\\t'}
        candidate=\${candidate//:/\\\\:}
        candidates+=("$candidate\${description:+:$description}")
    done

    if (( directive & 8 )); then
        local -a extensions
        extensions=("\${(@)candidates%%:*}")
        _files -g "*.(\${(j:|:)extensions})"
        return
    fi
    if (( directive & 16 )); then
        if (( \${#candidates} )); then
            ( cd -- "\${candidates[1]%%:*}" 2>/dev/null && _files -/ )
        else
            _files -/
        fi
        return
    fi

    if (( \${#candidates} )); then
        if (( directive & 2 )); then
            _describe -t completions '${program} completions' candidates -S ''
        else
            _describe -t completions '${program} completions' candidates
        fi
        return
    fi
    (( directive & 4 )) || _files
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _${name} "$@"
else
    compdef _${name} ${program}
fi
`;
}
