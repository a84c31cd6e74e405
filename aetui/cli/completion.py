"""Shell completion: `aetui completion bash|zsh|fish` prints a script to install once, and
the shell's TAB runs `aetui` with `_AETUI_COMPLETE=<shell>_complete` for the answer.

The protocol is Click 8's: bash and zsh pass the words and the cursor's word in
`COMP_WORDS` / `COMP_CWORD`, fish its command line in `COMP_WORDS` and the current token in
`COMP_CWORD`; Click's own machinery (`ShellComplete.get_completions`) walks the command
tree to the verb, option or argument being completed, and the parameters' completers
(`aetui.cli.completers`) answer for values. `aetui.cli.main` hands such a run here before
Typer parses anything.

The scripts are static: nothing is `eval`ed at each shell start, and they never change
with the verbs (the answers come from the installed aetui at each TAB). When nothing is
offered (a checkpoint path, a folder), every shell completes file names.

Typer vendors Click from 0.2x on and no longer ships Click's bash/zsh/fish classes (only
its own protocol, without item types or bash descriptions); the three small classes here
follow Click 8's, on the base class Typer keeps (`ShellComplete`).
"""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

import os
import sys
from contextlib import contextmanager
from typing import Annotated, Any, Iterator

import typer

try:  # Typer >= 0.2x vendors Click; before, Click is its dependency
    from typer._click.shell_completion import CompletionItem, ShellComplete, split_arg_string
except ImportError:  # pragma: no cover
    from click.shell_completion import CompletionItem, ShellComplete, split_arg_string

from aetui.cli.options import user_errors
from aetui.cli.verbs import COMPLETE_VAR, PROG
from aetui.errors import UserError
HELP_WIDTH = 60  # a label longer than this is cut in bash's list


BASH_SCRIPT = """\
# aetui completion for bash (`aetui completion bash`; docs/shell.md)
%(complete_func)s() {
    local IFS=$'\\n'
    local response completion type value
    response=$(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD \\
COMP_LINE="${COMP_LINE:0:COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \\
%(complete_var)s=bash_complete $1 2>/dev/null)
    for completion in $response; do
        IFS=',' read -r type value <<< "$completion"
        if [[ $type == 'plain' ]]; then
            COMPREPLY+=("$value")
        fi
    done
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace 2>/dev/null  # a folder: go on typing in it
    fi
    return 0
}

complete -o nosort -o default -F %(complete_func)s %(prog_name)s 2>/dev/null \\
    || complete -o default -F %(complete_func)s %(prog_name)s
"""

ZSH_SCRIPT = """\
#compdef %(prog_name)s
# aetui completion for zsh (`aetui completion zsh`; docs/shell.md)

%(complete_func)s() {
    local -a completions completions_with_descriptions folders response
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \\
%(complete_var)s=zsh_complete %(prog_name)s 2>/dev/null)}")

    for type key descr in ${response}; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$key" == */ ]]; then
                folders+=("$key")
            elif [[ "$descr" == "_" ]]; then
                completions+=("$key")
            else
                completions_with_descriptions+=("$key":"$descr")
            fi
        fi
    done

    if [ -n "$completions_with_descriptions" ]; then
        _describe -V unsorted completions_with_descriptions -U
    fi
    if [ -n "$completions" ]; then
        compadd -U -V unsorted -a completions
    fi
    if [ -n "$folders" ]; then
        compadd -S '' -U -V unsorted -a folders
    fi
    if [ -z "$completions_with_descriptions" ] && [ -z "$completions" ] && [ -z "$folders" ]; then
        _files
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    %(complete_func)s "$@"
else
    compdef %(complete_func)s %(prog_name)s
fi
"""

FISH_SCRIPT = """\
# aetui completion for fish (`aetui completion fish`; docs/shell.md)
function %(complete_func)s
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \\
COMP_CWORD=(commandline -ct) %(prog_name)s 2>/dev/null)
    if test (count $response) -eq 0
        __fish_complete_path (commandline -ct)
        return
    end
    for completion in $response
        set -l metadata (string split -m 1 "," -- $completion)
        if test "$metadata[1]" = "plain"
            echo $metadata[2]
        end
    end
end

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)"
"""


class _Complete(ShellComplete):
    """What the three shells share: the script's variables, and bash's and zsh's way of
    passing the words (all of them, and the index of the one under the cursor)."""

    def source_vars(self) -> dict[str, Any]:
        return {"complete_func": self.func_name, "complete_var": self.complete_var, "prog_name": self.prog_name}

    def get_completion_args(self) -> tuple[list[str], str]:
        words = split_arg_string(os.environ.get("COMP_WORDS", ""))
        cword = int(os.environ.get("COMP_CWORD", len(words)))
        incomplete = words[cword] if cword < len(words) else ""
        return words[1:cword], incomplete


class BashComplete(_Complete):
    """Bash shows no descriptions of its own: when several values are offered, each comes
    with its description (`12  unet res64 · running`), padded to one column. Bash lists
    them and inserts only what they have in common, which is never more than a value: no
    value is another followed by a space. A single value comes alone, as it is inserted.

    Bash splits a word at `:` and `=` (`COMP_WORDBREAKS`), so `my_ae.py:Co` reaches it as
    three words, and what it inserts replaces only the part after the last `:`. The script
    therefore also passes the line up to the cursor (`COMP_LINE`): the word is read whole
    from it, and each value loses the part before that last break (bash-completion's
    `__ltrim_colon_completions`). A script installed before it still works, without that."""

    name = "bash"
    source_template = BASH_SCRIPT

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE")
        if not line:  # a script from before, or a caller that sets the words only
            return super().get_completion_args()
        words = split_arg_string(line)
        incomplete = "" if not words or line[-1:].isspace() else words.pop()
        return words[1:], incomplete

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        items = self.get_completions(args, incomplete)
        breaks = set(os.environ.get("COMP_WORDBREAKS", "")) - set(" \t\n\"'") if os.environ.get("COMP_LINE") else set()
        cut = max((incomplete.rfind(c) for c in breaks), default=-1) + 1  # bash's word starts there
        described = len(items) > 1 and any(item.help for item in items)
        width = max((len(str(item.value)) - cut for item in items), default=0)
        out = []
        for item in items:
            value = str(item.value)
            if cut and value.startswith(incomplete[:cut]):
                value = value[cut:]
            if described and item.help:
                value = f"{value:<{width}}  {_one_line(item.help)[:HELP_WIDTH]}"
            out.append(f"{item.type},{value}")
        return "\n".join(out)

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.type},{item.value}"


class ZshComplete(_Complete):
    name = "zsh"
    source_template = ZSH_SCRIPT

    def format_completion(self, item: CompletionItem) -> str:
        help_ = _one_line(item.help).replace(":", r"\:") if item.help else "_"
        value = str(item.value).replace(":", r"\:")
        return f"{item.type}\n{value}\n{help_}"


class FishComplete(_Complete):
    name = "fish"
    source_template = FISH_SCRIPT

    def get_completion_args(self) -> tuple[list[str], str]:
        """fish passes the command line up to the cursor and the token under it."""
        words = split_arg_string(os.environ.get("COMP_WORDS", ""))
        incomplete = os.environ.get("COMP_CWORD", "")
        if incomplete:
            incomplete = (split_arg_string(incomplete) or [""])[0]
        args = words[1:]
        if incomplete and args and args[-1] == incomplete:
            args.pop()
        return args, incomplete

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.type},{item.value}\t{_one_line(item.help)}" if item.help else f"{item.type},{item.value}"


SHELLS = {cls.name: cls for cls in (BashComplete, ZshComplete, FishComplete)}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def script(shell: str) -> str:
    """The static completion script of a shell."""
    return SHELLS[shell](None, {}, PROG, COMPLETE_VAR).source()


def answer(app: typer.Typer, instruction: str) -> int:
    """Answer one TAB (`<shell>_complete`) or print a script (`<shell>_source`), Click 8's
    instructions; the exit code. An error offers nothing: a traceback would land in the
    user's prompt (AETUI_DEBUG=1 shows it)."""
    shell, _, action = instruction.partition("_")
    cls = SHELLS.get(shell)
    if cls is None or action not in ("complete", "source"):
        sys.stderr.write(f"aetui: {COMPLETE_VAR}={instruction}: use <shell>_complete or <shell>_source, "
                         f"shell one of {', '.join(SHELLS)}\n")
        return 1
    if action == "source":
        sys.stdout.write(script(shell))
        return 0
    from typer.main import get_command

    try:
        with _words_as_typed():
            out = cls(get_command(app), {}, PROG, COMPLETE_VAR).complete()
    except Exception:
        if os.environ.get("AETUI_DEBUG"):
            raise
        return 1
    # a label the terminal's encoding cannot show is shown with "?", not lost with the rest
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.write((out + "\n" if out else "").encode(encoding, "replace").decode(encoding))
    return 0


class _AsTyped:
    """A parameter's value as typed. Typer converts each parsed value through pydantic, whose
    import alone costs about a tenth of a second; completing reads only words (`--home`)."""

    @staticmethod
    def coerce(value: Any, param: Any, ctx: Any) -> Any:
        if value is None and (param.multiple or param.nargs == -1):
            return ()
        return value


@contextmanager
def _words_as_typed() -> Iterator[None]:
    """While completing, every Typer parameter (`--help` too, which Typer makes on first
    use) keeps its value as typed. A Typer without this converter method converts as usual,
    only slower."""
    try:
        from typer.core import _TyperParameter
    except ImportError:  # pragma: no cover
        yield
        return
    before = _TyperParameter.__dict__.get("get_runtime_param")
    if before is None:  # pragma: no cover
        yield
        return
    _TyperParameter.get_runtime_param = lambda self: _AsTyped
    try:
        yield
    finally:
        _TyperParameter.get_runtime_param = before


def shell_names(incomplete: str) -> list[str]:
    return list(SHELLS)


def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish", show_default=False, autocompletion=shell_names)],
) -> None:
    """Print the shell completion script (verbs, options, models, noises, job ids and their
    labels), to save once where the shell loads it; no `eval` at each shell start.

    Examples: `aetui completion bash > ~/.local/share/bash-completion/completions/aetui` ·
    `aetui completion zsh > ~/.zfunc/_aetui` (with `fpath+=~/.zfunc` before `compinit`) ·
    `aetui completion fish > ~/.config/fish/completions/aetui.fish` (docs/shell.md)
    """
    if shell not in SHELLS:
        raise UserError(f"unknown shell {shell!r}; one of {', '.join(SHELLS)}")
    sys.stdout.write(script(shell))


def register(app: typer.Typer) -> None:
    app.command(name="completion")(user_errors(completion))
