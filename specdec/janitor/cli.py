"""`python -m specdec janitor -e NAME [--delete]`: list, and delete, what an environment left behind.

`python -m specdec` imports this module for every command, the benchmark pod's included, which
holds no janitor code but this file: everything else is imported when the command runs.
"""

from __future__ import annotations

import argparse
import functools

from specdec.validation import UserError

# What AWS answers when the credentials themselves are wrong or stale.
CREDENTIAL_CODES = frozenset({"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
                              "ExpiredToken", "ExpiredTokenException", "RequestExpired"})


class AwsProblem(UserError):
    """AWS refused the janitor's credentials or one of its calls."""


def add_parser(commands) -> None:
    janitor = commands.add_parser(
        "janitor", help="after cdk destroy: list what an environment left behind (load balancers, network "
        "interfaces, volumes, log groups...) and, with --delete, delete it",
        description="Lists what an environment left behind in its account and exits 1 while anything "
        "remains; --delete deletes it in dependency order (docs/janitor.md).")
    janitor.add_argument("-e", "--env", required=True, help="environment name")
    janitor.add_argument("--delete", action="store_true", help="delete what is marked `delete` (default: "
                         "list only)")
    janitor.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    janitor.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import boto3  # only when the command runs: the rest of the CLI works without AWS
    from botocore.exceptions import BotoCoreError, ClientError

    from specdec.config import available_environments, load_environment
    from specdec.janitor import inventory, sweep
    from specdec.janitor.ownership import Scope
    from specdec.janitor.render import render, verdict

    environment = load_environment(args.env)
    scope = Scope.of(environment, available_environments())
    where = f"{environment.account}/{environment.region}"
    try:
        session = boto3.Session(profile_name=args.profile)
        client = functools.cache(lambda service: session.client(service, region_name=environment.region))
        account = client("sts").get_caller_identity()["Account"]
        if account != environment.account:
            raise AwsProblem(f"janitor: the credentials are for account {account}, environments/"
                             f"{environment.name}.json for {environment.account}: use that account's "
                             "(--profile)")
        findings = inventory.collect(scope, client, environment.region)
        mode = "" if args.delete else " (dry run: nothing is deleted; --delete deletes what is marked delete)"
        print(render(f"janitor {scope.stack_name} in {where}{mode}", findings))
        if args.delete and any(f.deletable for f in findings):
            sweep.sweep(findings, client, print)
            findings = inventory.collect(scope, client, environment.region)
            print(render("after deletion", findings))
    except (BotoCoreError, ClientError) as error:
        raise _problem(error) from None
    print(verdict(scope, where, findings, args.delete))
    return 1 if any(not f.kept for f in findings) else 0


def _problem(error: Exception) -> AwsProblem:
    from botocore.exceptions import ClientError, NoCredentialsError, ProfileNotFound

    if isinstance(error, ProfileNotFound):
        return AwsProblem(f"janitor: {error}: see `aws configure list-profiles`")
    if isinstance(error, NoCredentialsError):
        return AwsProblem("janitor: no AWS credentials found: set AWS_PROFILE (or pass --profile) or run "
                          "`aws configure`")
    if isinstance(error, ClientError) and error.response["Error"]["Code"] in CREDENTIAL_CODES:
        return AwsProblem(f"janitor: AWS refused the credentials ({error.response['Error']['Code']}): "
                          "refresh them (e.g. `aws sso login`) or pass --profile")
    return AwsProblem(f"janitor: {' '.join(str(error).split())}")
