"""`python -m specdec janitor -e NAME`: what an environment left behind after `cdk destroy`.

Kubernetes controllers and Lambda functions create AWS resources that CloudFormation never owned:
load balancers, their target groups, security groups and network interfaces, volumes for claims,
log groups. They outlive the stack, cost money and block the next deploy's VPC deletion. The
janitor lists them (ownership.py decides what is this environment's, inventory.py asks AWS) and,
with --delete, deletes them in dependency order (sweep.py). docs/janitor.md has the why.
"""
