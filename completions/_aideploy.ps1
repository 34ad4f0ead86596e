
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'aideploy' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'aideploy'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'aideploy' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write an aideploy.toml for the app in this folder, or add a target to the one there')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Write aideploy.toml if there is none, then deploy')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Build, plan, apply and health-check a deploy')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Show what a deploy would change, changing nothing')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Build the target''s artifact without deploying it')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show what is deployed: URL, version, health (every target without --target)')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Put the previous version back, or any kept release (--to), health-gated like a deploy')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'List the releases aideploy made, newest first, and the ones the platform keeps')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print the deployed app''s log (every target, from the platform''s own log store)')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove everything a deploy of this app and stage created')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Destroy every preview stage of this app whose time to live (deploy --ttl) has passed')
            [CompletionResult]::new('secrets', 'secrets', [CompletionResultType]::ParameterValue, 'Store, list, read or remove the app''s secrets in the target''s secret store')
            [CompletionResult]::new('cost', 'cost', [CompletionResultType]::ParameterValue, 'Estimate each target''s monthly cost from the manifest and a price table, side by side')
            [CompletionResult]::new('ci', 'ci', [CompletionResultType]::ParameterValue, 'Set up CI: the workflow file and keyless cloud login from the CI''s OIDC token')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the manifest and report every problem')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the manifest''s JSON Schema (for editors)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'aideploy;init' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'The target to write a section for, or to add when aideploy.toml exists (asked at a terminal when absent)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'The target to write a section for, or to add when aideploy.toml exists (asked at a terminal when absent)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The app''s name [default: the folder''s name]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing aideploy.toml (without it, init adds a target to it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;up' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'A preview stage''s time to live (`90m`, `72h`, `3d`): once it has passed, `aideploy gc` destroys the stage. Needs --stage (not the default stage); a deploy without it keeps the expiry the stage has')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--refresh', '--refresh', [CompletionResultType]::ParameterName, 'Install the Python dependencies again instead of reusing the cached set (picks up new releases of requirements that are not pinned)')
            [CompletionResult]::new('--over-budget', '--over-budget', [CompletionResultType]::ParameterName, 'Deploy even when the estimated monthly cost is above `[cost] budget_usd`')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;deploy' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'A preview stage''s time to live (`90m`, `72h`, `3d`): once it has passed, `aideploy gc` destroys the stage. Needs --stage (not the default stage); a deploy without it keeps the expiry the stage has')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--refresh', '--refresh', [CompletionResultType]::ParameterName, 'Install the Python dependencies again instead of reusing the cached set (picks up new releases of requirements that are not pinned)')
            [CompletionResult]::new('--over-budget', '--over-budget', [CompletionResultType]::ParameterName, 'Deploy even when the estimated monthly cost is above `[cost] budget_usd`')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;plan' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'Also show the expiry a `deploy --ttl DURATION` would set (see `deploy --help`)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;build' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('--package', '--package', [CompletionResultType]::ParameterName, 'zip or image [default: the target''s (lambda: zip, local: its environment, others: image), else `[build] package`, else image]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Also write the image to FILE as an archive for `docker load -i FILE` or `skopeo copy docker-archive:FILE ...`, to run it elsewhere')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--push', '--push', [CompletionResultType]::ParameterName, 'Push the image to `[build] registry` (or $AIDEPLOY_REGISTRY)')
            [CompletionResult]::new('--refresh', '--refresh', [CompletionResultType]::ParameterName, 'Install the Python dependencies again instead of reusing the cached set (picks up new releases of requirements that are not pinned)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;status' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--metrics', '--metrics', [CompletionResultType]::ParameterName, 'Also show requests, error rate and p50/p95 latency over the last hour, from the platform''s metrics API (CloudWatch, Cloud Monitoring, Azure Monitor, Railway, Render)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;rollback' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Go to this kept release (an ID, or a prefix of one or of its digest, that `aideploy history` lists) instead of the one before the live one')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;history' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;logs' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many of the last lines to print first')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'How many of the last lines to print first')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only lines written in this last while (`90s`, `10m`, `2h`, `1d`); cloud targets look back 1h unless told')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing what the app writes, until Ctrl-C (exit code 130, no error)')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing what the app writes, until Ctrl-C (exit code 130, no error)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;destroy' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--purge', '--purge', [CompletionResultType]::ParameterName, 'Also purge soft-deleted stores (Azure Key Vault); irreversible. Without it a deleted vault stays recoverable for its retention period. Asked separately at a terminal; --yes answers both questions')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;gc' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'List the expired stages and what destroying them would remove; change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;secrets' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a secret''s value: from --stdin, the local environment or .env, or a hidden prompt')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print a stored secret''s value: at a terminal, or anywhere with --reveal')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the secrets: names, versions and when they last changed, never values')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a stored secret (recoverable for 7 days on AWS)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'aideploy;secrets;set' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--stdin', '--stdin', [CompletionResultType]::ParameterName, 'Read the value from stdin (one trailing newline is dropped)')
            [CompletionResult]::new('--deploy', '--deploy', [CompletionResultType]::ParameterName, 'Then deploy, so the running app gets the new value (a normal, health-gated deploy)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;secrets;get' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--reveal', '--reveal', [CompletionResultType]::ParameterName, 'Print the value even when stdout is not a terminal (a pipe, a file, CI logs)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;secrets;list' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;secrets;rm' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Target: a [targets.NAME] in the manifest, or a kind (local, lambda, cloudrun, ...)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one target setting for this run (repeatable), checked like the file')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud region for this run (the same as --set region=REGION)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'AWS targets: the named profile to take credentials from [default: $AWS_PROFILE, else the default chain]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;secrets;help' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a secret''s value: from --stdin, the local environment or .env, or a hidden prompt')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print a stored secret''s value: at a terminal, or anywhere with --reveal')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the secrets: names, versions and when they last changed, never values')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a stored secret (recoverable for 7 days on AWS)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'aideploy;secrets;help;set' {
            break
        }
        'aideploy;secrets;help;get' {
            break
        }
        'aideploy;secrets;help;list' {
            break
        }
        'aideploy;secrets;help;rm' {
            break
        }
        'aideploy;secrets;help;help' {
            break
        }
        'aideploy;cost' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'A target to estimate: a [targets.NAME] or a kind (repeatable) [default: every target of the manifest, else every kind]')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'A target to estimate: a [targets.NAME] or a kind (repeatable) [default: every target of the manifest, else every kind]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;ci' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write the CI workflow and create the cloud identities it logs in as (shown as a plan, confirmed like a deploy)')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove what `ci init` created: its identities, roles and policies (the OIDC provider only when aideploy made it and nothing else uses it), and its workflow file')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'aideploy;ci;init' {
            [CompletionResult]::new('--provider', '--provider', [CompletionResultType]::ParameterName, 'The CI that runs the workflow and issues its OIDC tokens')
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'The repository, OWNER/NAME [default: from the git remote `origin`]')
            [CompletionResult]::new('--branch', '--branch', [CompletionResultType]::ParameterName, 'The branch whose pushes deploy')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'A target the workflow deploys (repeatable): a [targets.NAME] or a kind')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'A target the workflow deploys (repeatable): a [targets.NAME] or a kind')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'The OIDC issuer of a self-managed GitLab (or GitHub Enterprise Server) [default: https://gitlab.com, https://token.actions.githubusercontent.com]')
            [CompletionResult]::new('--install', '--install', [CompletionResultType]::ParameterName, 'The shell command each job runs to install aideploy when its cache has none, e.g. `cargo install --locked --git URL aideploy` for a build from your own mirror [default: cargo install --locked aideploy --version VERSION]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace a workflow file that aideploy did not write')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;ci;destroy' {
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Only the cloud side of these targets (repeatable) [default: every target of the manifest]')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Only the cloud side of these targets (repeatable) [default: every target of the manifest]')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;ci;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write the CI workflow and create the cloud identities it logs in as (shown as a plan, confirmed like a deploy)')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove what `ci init` created: its identities, roles and policies (the OIDC provider only when aideploy made it and nothing else uses it), and its workflow file')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'aideploy;ci;help;init' {
            break
        }
        'aideploy;ci;help;destroy' {
            break
        }
        'aideploy;ci;help;help' {
            break
        }
        'aideploy;validate' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;schema' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;completions' {
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--manifest', '--manifest', [CompletionResultType]::ParameterName, 'The manifest, or the folder holding aideploy.toml [default: ./aideploy.toml]')
            [CompletionResult]::new('--stage', '--stage', [CompletionResultType]::ParameterName, 'Stage (environment) to act on; resource names carry it')
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'How long deploy, rollback and destroy wait for another run of the same app, stage and target to finish (`90s`, `5m`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print less on stderr (-q: warnings and errors only)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more on stderr (-v, -vv)')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No spinners or progress bars: one line per step, and one with its duration when it ends')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (needed when stdin is not a terminal or CI is set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'aideploy;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write an aideploy.toml for the app in this folder, or add a target to the one there')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Write aideploy.toml if there is none, then deploy')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Build, plan, apply and health-check a deploy')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Show what a deploy would change, changing nothing')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Build the target''s artifact without deploying it')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show what is deployed: URL, version, health (every target without --target)')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Put the previous version back, or any kept release (--to), health-gated like a deploy')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'List the releases aideploy made, newest first, and the ones the platform keeps')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print the deployed app''s log (every target, from the platform''s own log store)')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove everything a deploy of this app and stage created')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Destroy every preview stage of this app whose time to live (deploy --ttl) has passed')
            [CompletionResult]::new('secrets', 'secrets', [CompletionResultType]::ParameterValue, 'Store, list, read or remove the app''s secrets in the target''s secret store')
            [CompletionResult]::new('cost', 'cost', [CompletionResultType]::ParameterValue, 'Estimate each target''s monthly cost from the manifest and a price table, side by side')
            [CompletionResult]::new('ci', 'ci', [CompletionResultType]::ParameterValue, 'Set up CI: the workflow file and keyless cloud login from the CI''s OIDC token')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the manifest and report every problem')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the manifest''s JSON Schema (for editors)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'aideploy;help;init' {
            break
        }
        'aideploy;help;up' {
            break
        }
        'aideploy;help;deploy' {
            break
        }
        'aideploy;help;plan' {
            break
        }
        'aideploy;help;build' {
            break
        }
        'aideploy;help;status' {
            break
        }
        'aideploy;help;rollback' {
            break
        }
        'aideploy;help;history' {
            break
        }
        'aideploy;help;logs' {
            break
        }
        'aideploy;help;destroy' {
            break
        }
        'aideploy;help;gc' {
            break
        }
        'aideploy;help;secrets' {
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a secret''s value: from --stdin, the local environment or .env, or a hidden prompt')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print a stored secret''s value: at a terminal, or anywhere with --reveal')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the secrets: names, versions and when they last changed, never values')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove a stored secret (recoverable for 7 days on AWS)')
            break
        }
        'aideploy;help;secrets;set' {
            break
        }
        'aideploy;help;secrets;get' {
            break
        }
        'aideploy;help;secrets;list' {
            break
        }
        'aideploy;help;secrets;rm' {
            break
        }
        'aideploy;help;cost' {
            break
        }
        'aideploy;help;ci' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write the CI workflow and create the cloud identities it logs in as (shown as a plan, confirmed like a deploy)')
            [CompletionResult]::new('destroy', 'destroy', [CompletionResultType]::ParameterValue, 'Remove what `ci init` created: its identities, roles and policies (the OIDC provider only when aideploy made it and nothing else uses it), and its workflow file')
            break
        }
        'aideploy;help;ci;init' {
            break
        }
        'aideploy;help;ci;destroy' {
            break
        }
        'aideploy;help;validate' {
            break
        }
        'aideploy;help;schema' {
            break
        }
        'aideploy;help;completions' {
            break
        }
        'aideploy;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
