# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_aideploy_global_optspecs
    string join \n C/manifest= stage= json q/quiet v/verbose no-progress y/yes lock-timeout= h/help V/version
end

function __fish_aideploy_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_aideploy_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_aideploy_using_subcommand
    set -l cmd (__fish_aideploy_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c aideploy -n "__fish_aideploy_needs_command" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_needs_command" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_needs_command" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_needs_command" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_needs_command" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_needs_command" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_needs_command" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_needs_command" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_needs_command" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_needs_command" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "init" -d 'Write an aideploy.toml for the app in this folder, or add a target to the one there'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "up" -d 'Write aideploy.toml if there is none, then deploy'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "deploy" -d 'Build, plan, apply and health-check a deploy'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "plan" -d 'Show what a deploy would change, changing nothing'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "build" -d 'Build the target\'s artifact without deploying it'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "status" -d 'Show what is deployed: URL, version, health (every target without --target)'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "rollback" -d 'Put the previous version back, or any kept release (--to), health-gated like a deploy'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "history" -d 'List the releases aideploy made, newest first, and the ones the platform keeps'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "logs" -d 'Print the deployed app\'s log (every target, from the platform\'s own log store)'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "destroy" -d 'Remove everything a deploy of this app and stage created'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "gc" -d 'Destroy every preview stage of this app whose time to live (deploy --ttl) has passed'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "secrets" -d 'Store, list, read or remove the app\'s secrets in the target\'s secret store'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "cost" -d 'Estimate each target\'s monthly cost from the manifest and a price table, side by side'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "ci" -d 'Set up CI: the workflow file and keyless cloud login from the CI\'s OIDC token'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "validate" -d 'Check the manifest and report every problem'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "schema" -d 'Print the manifest\'s JSON Schema (for editors)'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c aideploy -n "__fish_aideploy_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -s t -l target -d 'The target to write a section for, or to add when aideploy.toml exists (asked at a terminal when absent)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -l name -d 'The app\'s name [default: the folder\'s name]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -l force -d 'Overwrite an existing aideploy.toml (without it, init adds a target to it)'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand init" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l ttl -d 'A preview stage\'s time to live (`90m`, `72h`, `3d`): once it has passed, `aideploy gc` destroys the stage. Needs --stage (not the default stage); a deploy without it keeps the expiry the stage has' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l refresh -d 'Install the Python dependencies again instead of reusing the cached set (picks up new releases of requirements that are not pinned)'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l over-budget -d 'Deploy even when the estimated monthly cost is above `[cost] budget_usd`'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand up" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l ttl -d 'A preview stage\'s time to live (`90m`, `72h`, `3d`): once it has passed, `aideploy gc` destroys the stage. Needs --stage (not the default stage); a deploy without it keeps the expiry the stage has' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l refresh -d 'Install the Python dependencies again instead of reusing the cached set (picks up new releases of requirements that are not pinned)'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l over-budget -d 'Deploy even when the estimated monthly cost is above `[cost] budget_usd`'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand deploy" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l ttl -d 'Also show the expiry a `deploy --ttl DURATION` would set (see `deploy --help`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand plan" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l package -d 'zip or image [default: the target\'s (lambda: zip, local: its environment, others: image), else `[build] package`, else image]' -r -f -a "zip\t''
image\t''"
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l output -d 'Also write the image to FILE as an archive for `docker load -i FILE` or `skopeo copy docker-archive:FILE ...`, to run it elsewhere' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l push -d 'Push the image to `[build] registry` (or $AIDEPLOY_REGISTRY)'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l refresh -d 'Install the Python dependencies again instead of reusing the cached set (picks up new releases of requirements that are not pinned)'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand build" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l metrics -d 'Also show requests, error rate and p50/p95 latency over the last hour, from the platform\'s metrics API (CloudWatch, Cloud Monitoring, Azure Monitor, Railway, Render)'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand status" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l to -d 'Go to this kept release (an ID, or a prefix of one or of its digest, that `aideploy history` lists) instead of the one before the live one' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand rollback" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand history" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s n -l lines -d 'How many of the last lines to print first' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l since -d 'Only lines written in this last while (`90s`, `10m`, `2h`, `1d`); cloud targets look back 1h unless told' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s f -l follow -d 'Keep printing what the app writes, until Ctrl-C (exit code 130, no error)'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand logs" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l purge -d 'Also purge soft-deleted stores (Azure Key Vault); irreversible. Without it a deleted vault stays recoverable for its retention period. Asked separately at a terminal; --yes answers both questions'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand destroy" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l dry-run -d 'List the expired stages and what destroying them would remove; change nothing'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand gc" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -f -a "set" -d 'Store a secret\'s value: from --stdin, the local environment or .env, or a hidden prompt'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -f -a "get" -d 'Print a stored secret\'s value: at a terminal, or anywhere with --reveal'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -f -a "list" -d 'List the secrets: names, versions and when they last changed, never values'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -f -a "rm" -d 'Remove a stored secret (recoverable for 7 days on AWS)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and not __fish_seen_subcommand_from set get list rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l stdin -d 'Read the value from stdin (one trailing newline is dropped)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l deploy -d 'Then deploy, so the running app gets the new value (a normal, health-gated deploy)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l reveal -d 'Print the value even when stdout is not a terminal (a pipe, a file, CI logs)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -s t -l target -d 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -l set -d 'Override one target setting for this run (repeatable), checked like the file' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -l region -d 'Cloud region for this run (the same as --set region=REGION)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -l profile -d 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "set" -d 'Store a secret\'s value: from --stdin, the local environment or .env, or a hidden prompt'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print a stored secret\'s value: at a terminal, or anywhere with --reveal'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the secrets: names, versions and when they last changed, never values'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove a stored secret (recoverable for 7 days on AWS)'
complete -c aideploy -n "__fish_aideploy_using_subcommand secrets; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -s t -l target -d 'A target to estimate: a [targets.NAME] or a kind (repeatable) [default: every target of the manifest, else every kind]' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand cost" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -f -a "init" -d 'Write the CI workflow and create the cloud identities it logs in as (shown as a plan, confirmed like a deploy)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -f -a "destroy" -d 'Remove what `ci init` created: its identities, roles and policies (the OIDC provider only when aideploy made it and nothing else uses it), and its workflow file'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and not __fish_seen_subcommand_from init destroy help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l provider -d 'The CI that runs the workflow and issues its OIDC tokens' -r -f -a "github\t''
gitlab\t''"
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l repo -d 'The repository, OWNER/NAME [default: from the git remote `origin`]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l branch -d 'The branch whose pushes deploy' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -s t -l target -d 'A target the workflow deploys (repeatable): a [targets.NAME] or a kind' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l issuer -d 'The OIDC issuer of a self-managed GitLab (or GitHub Enterprise Server) [default: https://gitlab.com, https://token.actions.githubusercontent.com]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l install -d 'The shell command each job runs to install aideploy when its cache has none, e.g. `cargo install --locked --git URL aideploy` for a build from your own mirror [default: cargo install --locked aideploy --version VERSION]' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l force -d 'Replace a workflow file that aideploy did not write'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -s t -l target -d 'Only the cloud side of these targets (repeatable) [default: every target of the manifest]' -r -f -a "(aideploy __complete target (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from destroy" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from help" -f -a "init" -d 'Write the CI workflow and create the cloud identities it logs in as (shown as a plan, confirmed like a deploy)'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from help" -f -a "destroy" -d 'Remove what `ci init` created: its identities, roles and policies (the OIDC provider only when aideploy made it and nothing else uses it), and its workflow file'
complete -c aideploy -n "__fish_aideploy_using_subcommand ci; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand validate" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand schema" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -s C -l manifest -d 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]' -r -F
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -l stage -d 'Stage (environment) to act on; resource names carry it' -r -f -a "(aideploy __complete stage (commandline -opc))"
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -l lock-timeout -d 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)' -r
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -l json -d 'Print the result as one JSON object on stdout'
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -s q -l quiet -d 'Print less on stderr (-q: warnings and errors only)'
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -s v -l verbose -d 'Print more on stderr (-v, -vv)'
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -l no-progress -d 'No spinners or progress bars: one line per step, and one with its duration when it ends'
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -s y -l yes -d 'Apply without asking (needed when stdin is not a terminal or CI is set)'
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -s h -l help -d 'Print help'
complete -c aideploy -n "__fish_aideploy_using_subcommand completions" -s V -l version -d 'Print version'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "init" -d 'Write an aideploy.toml for the app in this folder, or add a target to the one there'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "up" -d 'Write aideploy.toml if there is none, then deploy'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "deploy" -d 'Build, plan, apply and health-check a deploy'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "plan" -d 'Show what a deploy would change, changing nothing'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "build" -d 'Build the target\'s artifact without deploying it'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "status" -d 'Show what is deployed: URL, version, health (every target without --target)'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "rollback" -d 'Put the previous version back, or any kept release (--to), health-gated like a deploy'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "history" -d 'List the releases aideploy made, newest first, and the ones the platform keeps'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "logs" -d 'Print the deployed app\'s log (every target, from the platform\'s own log store)'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "destroy" -d 'Remove everything a deploy of this app and stage created'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "gc" -d 'Destroy every preview stage of this app whose time to live (deploy --ttl) has passed'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "secrets" -d 'Store, list, read or remove the app\'s secrets in the target\'s secret store'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "cost" -d 'Estimate each target\'s monthly cost from the manifest and a price table, side by side'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "ci" -d 'Set up CI: the workflow file and keyless cloud login from the CI\'s OIDC token'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "validate" -d 'Check the manifest and report every problem'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "schema" -d 'Print the manifest\'s JSON Schema (for editors)'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and not __fish_seen_subcommand_from init up deploy plan build status rollback history logs destroy gc secrets cost ci validate schema completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and __fish_seen_subcommand_from secrets" -f -a "set" -d 'Store a secret\'s value: from --stdin, the local environment or .env, or a hidden prompt'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and __fish_seen_subcommand_from secrets" -f -a "get" -d 'Print a stored secret\'s value: at a terminal, or anywhere with --reveal'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and __fish_seen_subcommand_from secrets" -f -a "list" -d 'List the secrets: names, versions and when they last changed, never values'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and __fish_seen_subcommand_from secrets" -f -a "rm" -d 'Remove a stored secret (recoverable for 7 days on AWS)'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and __fish_seen_subcommand_from ci" -f -a "init" -d 'Write the CI workflow and create the cloud identities it logs in as (shown as a plan, confirmed like a deploy)'
complete -c aideploy -n "__fish_aideploy_using_subcommand help; and __fish_seen_subcommand_from ci" -f -a "destroy" -d 'Remove what `ci init` created: its identities, roles and policies (the OIDC provider only when aideploy made it and nothing else uses it), and its workflow file'
