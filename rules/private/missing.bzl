"""Actions that fail at execution with a message: a toolchain whose tool is missing.

The toolchain repositories never fail when fetched (a registered toolchain is
loaded for every build, also of targets that do not use it); a missing tool
becomes a toolchain with a `missing` message instead, and the first action
of ours that needs the tool fails with that message.
"""

def fail_at_execution(ctx, outputs, message, mnemonic):
    """Register one action that writes nothing, prints `message` and fails.

    Args:
      ctx: the rule context.
      outputs: the files the real action would have written.
      message: what is missing and how to set it.
      mnemonic: the real action's mnemonic.
    """
    ctx.actions.run_shell(
        outputs = outputs,
        command = 'printf "%s\\n" "$1" >&2; exit 1',
        arguments = ["%s: %s" % (ctx.label, message)],
        mnemonic = mnemonic,
        progress_message = "Missing tool for %{label}",
    )
