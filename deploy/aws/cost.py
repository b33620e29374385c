#!/usr/bin/env python3
"""Monthly cost of the deploy/aws architecture, from the price table.

Reads deploy/aws/prices.json (each price with its unit, page, URL and the
period it is known for) and writes docs/aws-cost.md: one line per billed
component for the Terraform's sizes, in sa-east-1 (the original's region)
and us-east-1, beside the original estimate of $70.74/month, with every
difference explained; then the same for mode = "ha" (ALB, two instances,
Multi-AZ RDS, NAT gateway) side by side with the single mode, with what
each line buys. Python 3 standard library only.

  python3 deploy/aws/cost.py            write docs/aws-cost.md
  python3 deploy/aws/cost.py --check    exit 1 (and show a diff) if it is stale
  python3 deploy/aws/cost.py --output F write elsewhere
"""
import argparse
import difflib
import json
import os
import sys
from decimal import ROUND_HALF_UP, Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PRICES = os.path.join(HERE, "prices.json")
DOC = os.path.join(ROOT, "docs", "aws-cost.md")
REGIONS = ("sa-east-1", "us-east-1")
CENT = Decimal("0.01")


def d(x):
    return Decimal(str(x))


def money(x):
    return f"${x.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def cents(x):
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def rate(x):
    """A unit price as published: all its digits, at least two decimals."""
    text = f"{d(x).normalize():f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def unit_price(p):
    if p["usd"] is None:
        return "not recorded"
    return f"${rate(p['usd'])} / {p['unit']}"


def compute(table, region, shape="single"):
    """Lines for one region and shape ("single": usage, "ha": usage_ha):
    (key, group, component, quantity, price entry, monthly Decimal)."""
    u = table["usage" if shape == "single" else "usage_ha"]
    hours = d(table["hours_per_month"])
    prices = table["regions"][region]["prices"]
    free = table["free_allowances"]
    if u["instance_type"] != "t3.micro" or u["db_instance_class"] != "db.t4g.micro":
        raise SystemExit("cost.py: the price table only knows t3.micro and db.t4g.micro")
    if u["db_multi_az"] != (shape == "ha"):
        raise SystemExit(f"cost.py: {shape}: db_multi_az {u['db_multi_az']} is not the shape's default")
    n = u.get("instances", 1)
    # Multi-AZ: RDS bills a second instance (the standby) and a second copy
    # of the storage, at the Single-AZ rates.
    az = 2 if u["db_multi_az"] else 1
    each = lambda q: q if n == 1 else f"{n} x {q}"
    rds_each = lambda q: q if az == 1 else f"2 x {q}"

    def line(key, group, component, quantity, price, amount):
        if price["usd"] is None and amount is None:
            amount = Decimal(0)
        elif amount is None:
            raise SystemExit(f"cost.py: {region} {key}: no rate")
        return {"key": key, "group": group, "component": component, "quantity": quantity,
                "price": price, "amount": cents(amount)}

    backup_free = d(u["db_storage_gb"]) * d(free["rds_backup_fraction_of_storage"])
    backup_billable = max(Decimal(0), d(u["backup_storage_gb"]) - backup_free)
    backup_price = prices["rds_backup"]
    if backup_billable > 0 and backup_price["usd"] is None:
        raise SystemExit(f"cost.py: {region}: billable backup storage but no rate")
    backup_amount = backup_billable * d(backup_price["usd"]) if backup_price["usd"] is not None else None
    if backup_billable == 0:
        backup_amount = Decimal(0)

    p = prices
    lines = [
        line("ec2", "ec2", f"EC2 {u['instance_type']} (Debian 12), on-demand",
             each(f"{table['hours_per_month']} h"), p["ec2_t3_micro"], n * hours * d(p["ec2_t3_micro"]["usd"])),
        line("ebs", "ec2", "EBS gp3 root volume, encrypted",
             each(f"{u['root_volume_gb']} GB"), p["ebs_gp3"], n * d(u["root_volume_gb"]) * d(p["ebs_gp3"]["usd"])),
        line("rds", "rds", f"RDS PostgreSQL {u['db_instance_class']}, {'Multi-AZ' if az == 2 else 'Single-AZ'}",
             rds_each(f"{table['hours_per_month']} h"), p["rds_db_t4g_micro"], az * hours * d(p["rds_db_t4g_micro"]["usd"])),
        line("rds_storage", "rds", "RDS gp3 storage, encrypted",
             rds_each(f"{u['db_storage_gb']} GB"), p["rds_gp3"], az * d(u["db_storage_gb"]) * d(p["rds_gp3"]["usd"])),
        line("rds_backup", "rds", f"RDS automated backups ({u['backup_retention_days']} days)",
             f"~{u['backup_storage_gb']} GB, {backup_free.normalize():f} GB free", backup_price, backup_amount),
        line("secret", "new", "Secrets Manager secrets (RDS-managed password, admin API token)",
             f"{u['secrets']} secret{'' if u['secrets'] == 1 else 's'}", p["secretsmanager_secret"],
             d(u["secrets"]) * d(p["secretsmanager_secret"]["usd"])),
        line("secret_api", "new", "Secrets Manager API calls (refresh every 10 min)",
             f"{u['secret_api_calls']:,} calls", p["secretsmanager_api"],
             d(u["secret_api_calls"]) / d(10000) * d(p["secretsmanager_api"]["usd"])),
        line("ipv4", "new", "Public IPv4 address of the instance" if shape == "single" else
             "Public IPv4 addresses (the ALB's two, the NAT gateway's)",
             f"{u['public_ipv4_addresses']} x {table['hours_per_month']} h", p["public_ipv4"],
             d(u["public_ipv4_addresses"]) * hours * d(p["public_ipv4"]["usd"])),
        line("transfer", "transfer", "Data transfer out to the internet (list rate)",
             f"{u['data_transfer_out_gb']} GB", p["data_transfer_out"],
             d(u["data_transfer_out_gb"]) * d(p["data_transfer_out"]["usd"])),
    ]
    if shape == "ha":
        lines += [
            line("alb", "ha", "Application Load Balancer", f"{table['hours_per_month']} h", p["alb_hour"],
                 hours * d(p["alb_hour"]["usd"])),
            line("alb_lcu", "ha", "ALB capacity units", f"{u['alb_lcu']} LCU x {table['hours_per_month']} h",
                 p["alb_lcu"], d(u["alb_lcu"]) * hours * d(p["alb_lcu"]["usd"])),
            line("nat", "ha", "NAT gateway (outbound for the private instances)", f"{table['hours_per_month']} h",
                 p["nat_hour"], hours * d(p["nat_hour"]["usd"])),
            line("nat_gb", "ha", "NAT gateway data processed", f"{u['nat_processed_gb']} GB", p["nat_gb"],
                 d(u["nat_processed_gb"]) * d(p["nat_gb"]["usd"])),
        ]
    lines.append({"key": "free", "group": "free", "component": "VPC, subnets, route tables, IGW, security groups, IAM, "
                  "AWS-managed KMS keys" + (", ACM certificate, Auto Scaling, launch template, SSM Session Manager"
                                            if shape == "ha" else ""),
                  "quantity": "-", "price": None, "amount": Decimal("0.00")})
    return lines


# What each line buys, for the side-by-side table (single / ha).
BUYS = {
    "ec2": ("one instance serving the API itself", "two instances, one per AZ: one can fail or be replaced while the other serves"),
    "ebs": ("its root volume", "one root volume per instance"),
    "rds": ("one database instance in one AZ", "a synchronous standby in the other AZ, promoted automatically on failure"),
    "rds_storage": ("the database's storage", "the standby's copy too"),
    "rds_backup": ("7 days of point-in-time recovery", "the same"),
    "secret": ("the database password and the admin token, kept out of code and state", "the same"),
    "secret_api": ("picking up rotations every 10 minutes", "the same, from each instance"),
    "ipv4": ("the instance's address", "the ALB's addresses in two AZs and the NAT gateway's; the instances have none"),
    "transfer": ("responses to clients", "the same"),
    "alb": (None, "one stable HTTPS endpoint, TLS with an ACM certificate, health checks on /ready, draining"),
    "alb_lcu": (None, "the ALB's traffic capacity (an upper bound at this load)"),
    "nat": (None, "outbound access from the private subnets: apt, the .deb, Secrets Manager, SSM"),
    "nat_gb": (None, "the bytes that outbound access moves"),
    "free": ("the network, its firewall rules and the instance's IAM role", "also Auto Scaling, the certificate, Session Manager"),
}


def render_ha(table):
    """The side-by-side section: single and ha, both regions."""
    shapes = {(r, sh): compute(table, r, sh) for r in REGIONS for sh in ("single", "ha")}
    total = {k: sum(x["amount"] for x in v) for k, v in shapes.items()}
    by = {k: {x["key"]: x for x in v} for k, v in shapes.items()}
    u = table["usage_ha"]
    out = []
    w = out.append
    w("## Both shapes side by side")
    w("")
    w("`mode = \"single\"` (the default, everything above) against `mode = \"ha\"`: an Application Load Balancer, "
      f"{u['instances']} instances in an Auto Scaling group in the private subnets, RDS Multi-AZ and one NAT gateway "
      "([deploy-aws.md](deploy-aws.md#high-availability-mode--ha)). Same region prices, same traffic; a dash is a "
      "line that shape does not have.")
    w("")
    w("| component (ha quantity) | single buys | ha buys | single sa-east-1 | ha sa-east-1 | single us-east-1 | ha us-east-1 |")
    w("|---|---|---|---:|---:|---:|---:|")
    for x in shapes[("sa-east-1", "ha")]:
        k = x["key"]
        one, many = BUYS[k]
        cell = lambda r, sh: money(by[(r, sh)][k]["amount"]) if k in by[(r, sh)] else "-"
        w(f"| {x['component']} ({x['quantity']}) | {one or '-'} | {many} | {cell('sa-east-1', 'single')} | "
          f"{cell('sa-east-1', 'ha')} | {cell('us-east-1', 'single')} | {cell('us-east-1', 'ha')} |")
    w(f"| **total** | | | **{money(total[('sa-east-1', 'single')])}** | **{money(total[('sa-east-1', 'ha')])}** | "
      f"**{money(total[('us-east-1', 'single')])}** | **{money(total[('us-east-1', 'ha')])}** |")
    w("")
    sa = by[("sa-east-1", "ha")]
    extra = total[("sa-east-1", "ha")] - total[("sa-east-1", "single")]
    w(f"In sa-east-1 ha costs {money(extra)} a month more "
      f"({(total[('sa-east-1', 'ha')] / total[('sa-east-1', 'single')]).quantize(Decimal('0.1'))} times single). "
      f"The largest additions: Multi-AZ doubles the RDS lines (+{money(sa['rds']['amount'] / 2 + sa['rds_storage']['amount'] / 2)}), "
      f"the NAT gateway ({money(sa['nat']['amount'] + sa['nat_gb']['amount'])}), the second instance "
      f"(+{money((sa['ec2']['amount'] + sa['ebs']['amount']) / 2)}) and the ALB "
      f"({money(sa['alb']['amount'] + sa['alb_lcu']['amount'])}).")
    w("")
    w("Why a NAT gateway rather than VPC endpoints: apt's Debian mirrors, the `.deb` (a release URL) and the RDS CA "
      "bundle are on the internet, which no endpoint reaches. Endpoints alone would cover Secrets Manager and SSM "
      "(interface endpoints for secretsmanager, ssm and ssmmessages: 3 endpoints x 2 AZs, each billed by the hour "
      "and per GB; in us-east-1 $0.06 an hour against the NAT gateway's $0.045) and still leave the instances unable to install anything. One NAT gateway, "
      "not one per AZ: if its AZ fails, the other AZ's instance keeps serving (requests come in through the ALB and "
      "the database is inside the VPC); only its outbound calls (secret refresh, apt) wait for the AZ to return.")
    w("")
    w("Not priced: CloudWatch (basic monitoring and the ALB's metrics are free), ACM certificates (free with the "
      "ALB), a Route 53 record for `public_hostname` if you use Route 53 ($0.50 per hosted zone a month), and data "
      "transfer between AZs (the ALB to an instance in another AZ is free; RDS replication to the standby is "
      "included).")
    w("")
    return out


def render(table):
    hours = table["hours_per_month"]
    u = table["usage"]
    orig = table["original_estimate"]
    lines = {r: compute(table, r) for r in REGIONS}
    total = {r: sum(x["amount"] for x in lines[r]) for r in REGIONS}
    sa = {x["key"]: x for x in lines["sa-east-1"]}
    group_sum = lambda g: sum(x["amount"] for x in lines["sa-east-1"] if x["group"] == g)
    free_gb = table["free_allowances"]["data_transfer_out_gb"]
    transfer_free = {r: min(d(u["data_transfer_out_gb"]), d(free_gb)) *
                     d(table["regions"][r]["prices"]["data_transfer_out"]["usd"]) for r in REGIONS}
    net = {r: total[r] - cents(transfer_free[r]) for r in REGIONS}
    o = {x["key"]: x for x in orig["lines"]}
    ec2_od_compute = sa["ec2"]["amount"]
    implied_hours = (d(o["ec2"]["usd"]) - sa["ebs"]["amount"]) / d(table["regions"]["sa-east-1"]["prices"]["ec2_t3_micro"]["usd"])
    multi_az = 2 * (sa["rds"]["amount"] + sa["rds_storage"]["amount"])
    p_sa = table["regions"]["sa-east-1"]["prices"]

    out = []
    w = out.append
    w("# AWS monthly cost")
    w("")
    w("<!-- Generated by deploy/aws/cost.py from deploy/aws/prices.json: do not edit by hand.")
    w("     Regenerate with `python3 deploy/aws/cost.py`; `make test` (tests/infra) fails when this file is stale. -->")
    w("")
    w(f"What the Terraform in [`deploy/aws/`](../deploy/aws/) costs per month ({hours} hours), on-demand, "
      "for its default sizes, in the original's region (sa-east-1, Sao Paulo) and in us-east-1 for comparison.")
    w("")
    w(f"| | sa-east-1 | us-east-1 |")
    w(f"|---|---:|---:|")
    w(f"| **This architecture, list prices** | **{money(total['sa-east-1'])}** | **{money(total['us-east-1'])}** |")
    w(f"| after the always-free first {free_gb} GB out | {money(net['sa-east-1'])} | {money(net['us-east-1'])} |")
    ha_total = {r: sum(x["amount"] for x in compute(table, r, "ha")) for r in REGIONS}
    w(f"| the original estimate | {money(d(orig['total']))} | - |")
    w(f"| `mode = \"ha\"` (ALB, 2 instances, Multi-AZ RDS, NAT gateway), list prices ([side by side](#both-shapes-side-by-side)) | "
      f"{money(ha_total['sa-east-1'])} | {money(ha_total['us-east-1'])} |")
    w("")
    w("> Prices are AWS's published on-demand list prices, written down from the pages named under "
      "[Price sources](#price-sources) without re-fetching them (this repository's machines have no internet access). "
      "**Verify before budgeting** in the [AWS Pricing Calculator](https://calculator.aws/); taxes are not included.")
    w("")
    w("## Per component")
    w("")
    w("| component | quantity | sa-east-1 price | sa-east-1 / month | us-east-1 price | us-east-1 / month |")
    w("|---|---|---|---:|---|---:|")
    us = {x["key"]: x for x in lines["us-east-1"]}
    for x in lines["sa-east-1"]:
        y = us[x["key"]]
        sp = unit_price(x["price"]) if x["price"] else "free"
        up = unit_price(y["price"]) if y["price"] else "free"
        w(f"| {x['component']} | {x['quantity']} | {sp} | {money(x['amount'])} | {up} | {money(y['amount'])} |")
    w(f"| **total** | | | **{money(total['sa-east-1'])}** | | **{money(total['us-east-1'])}** |")
    w("")
    w("## Beside the original estimate")
    w("")
    w(f"The original write-up priced the same architecture at **{money(d(orig['total']))}/month** in sa-east-1. "
      f"At list prices this Terraform comes to **{money(total['sa-east-1'])}**, "
      f"{money(d(orig['total']) - total['sa-east-1'])} less, although it prices three things the original left out.")
    w("")
    w("| original line | original | this estimate (sa-east-1) | difference |")
    w("|---|---:|---:|---:|")
    rows = [
        ("ec2", f"{o['ec2']['service']}: {o['ec2']['config']}", d(o["ec2"]["usd"]), group_sum("ec2")),
        ("rds", f"{o['rds']['service']}: {o['rds']['config']}", d(o["rds"]["usd"]), group_sum("rds")),
        ("transfer", f"{o['transfer']['service']}: {o['transfer']['config']}", d(o["transfer"]["usd"]), group_sum("transfer")),
        ("free", f"{o['free']['service']}: {o['free']['config']}", d(o["free"]["usd"]), group_sum("free")),
        ("new", "(not in the original) public IPv4 address, Secrets Manager", Decimal(0), group_sum("new")),
    ]
    for _, label, was, now in rows:
        diff = now - was
        sign = "+" if diff > 0 else ("-" if diff < 0 else "")
        w(f"| {label} | {money(was)} | {money(now)} | {sign}{money(abs(diff))} |")
    w(f"| **total** | **{money(d(orig['total']))}** | **{money(total['sa-east-1'])}** | "
      f"**{'+' if total['sa-east-1'] > d(orig['total']) else '-'}{money(abs(total['sa-east-1'] - d(orig['total'])))}** |")
    w("")
    w("Why each line differs:")
    w("")
    w(f"- **EC2 ({money(d(o['ec2']['usd']))} vs {money(group_sum('ec2'))})**: {hours} hours of an on-demand "
      f"t3.micro in sa-east-1 alone cost {money(ec2_od_compute)} "
      f"({unit_price(p_sa['ec2_t3_micro'])}), and the 20 GB gp3 root volume {money(sa['ebs']['amount'])}. "
      f"The original's {money(d(o['ec2']['usd']))} is below the compute price alone; after the volume it leaves "
      f"room for about {implied_hours.quantize(Decimal('1'))} instance-hours, so the calculator entry was most likely "
      "set to partial usage or a discounted pricing model (Savings Plan / Reserved), not to an instance running "
      "all month on demand. The calculator link in the write-up shows which; this estimate assumes the instance "
      f"runs all month. The Terraform also sets `cpu_credits = \"standard\"`, so surplus CPU credits can never add to "
      "this line (t3 defaults to \"unlimited\", billed per vCPU-hour above the baseline).")
    w(f"- **RDS ({money(d(o['rds']['usd']))} vs {money(group_sum('rds'))})**: db.t4g.micro Single-AZ is "
      f"{money(sa['rds']['amount'])} ({unit_price(p_sa['rds_db_t4g_micro'])}) plus 20 GB of gp3 at "
      f"{money(sa['rds_storage']['amount'])}; 7 days of automated backups of a small database stay inside the free "
      f"backup allowance (100% of the provisioned storage), so {money(sa['rds_backup']['amount'])}. The original's "
      f"{money(d(o['rds']['usd']))} is {(d(o['rds']['usd']) / group_sum('rds')).quantize(Decimal('0.1'))} times that. "
      "It cannot be reproduced from list prices for the configuration it names; the nearest configurations are a "
      f"Multi-AZ deployment (two instances and two copies of the storage: {money(multi_az)} at these prices) or a "
      "larger instance class, so the calculator entry most likely had Multi-AZ or another class selected (the "
      "calculator link shows which). Multi-AZ is the first step of the scale-out path "
      "([architecture](architecture.md#aws-deployment)), not part of this MVP.")
    w(f"- **Data transfer ({money(d(o['transfer']['usd']))} vs {money(group_sum('transfer'))})**: the original used "
      f"$0.09/GB, the us-east-1 rate; sa-east-1's first tier is {unit_price(p_sa['data_transfer_out'])}. "
      f"Either way the first {free_gb} GB/month out to the internet are free on every account, so 1 GB actually "
      "costs $0.00.")
    w(f"- **Free items ($0.00 vs $0.00)**: still free, with one exception: since February 2024 AWS charges for every "
      "public IPv4 address (next line). The private subnets have no NAT gateway, so nothing else in the network bills.")
    w(f"- **Not in the original (+{money(group_sum('new'))})**: the instance's public IPv4 address, "
      f"{money(sa['ipv4']['amount'])} ({unit_price(p_sa['public_ipv4'])}, charged since 2024-02-01; the "
      f"original estimate predates it or omits it); {u['secrets']} Secrets Manager secrets, the one RDS creates for "
      f"the managed master password and the admin API token, {money(sa['secret']['amount'])}; and about "
      f"{u['secret_api_calls']:,} GetSecretValue calls a month from the refresh every 10 minutes, "
      f"{money(sa['secret_api']['amount'])}. The original estimate had no secret store (the monolith read its "
      "database password from an environment variable, and its API had no authentication).")
    w("")
    out.extend(render_ha(table))
    w("## What would change the bill")
    w("")
    w("- **Destroying the stack**: `terraform destroy` stops every line above. The final snapshot it takes by "
      "default (`skip_final_snapshot = false`) is then billed as backup storage until deleted "
      "(docs/deploy-aws.md, Teardown).")
    w("- **Stopping instead of destroying**: a stopped EC2 instance still pays for its EBS volume; a stopped RDS "
      "instance pays for storage and restarts by itself after 7 days. The public IPv4 charge stops with the "
      "instance (an Elastic IP would keep billing).")
    w("- **Scale-out** ([architecture](architecture.md#aws-deployment)): `mode = \"ha\"` is priced above; beyond "
      "it, each further instance adds an EC2 and an EBS line, and RDS Proxy or a larger DB class add their own.")
    w("- **Savings Plans / Reserved Instances**: a one- or three-year commitment lowers the EC2 and RDS "
      "instance lines; nothing else.")
    w("- **us-east-1**: the same stack costs "
      f"{money(total['us-east-1'])} there ({(100 * (1 - total['us-east-1'] / total['sa-east-1'])).quantize(Decimal('1'))}% "
      "less) at the price of latency from Brazil.")
    w("")
    w("## Price sources")
    w("")
    w("| price | region | USD | unit | page | as of | note |")
    w("|---|---|---:|---|---|---|---|")
    for region in REGIONS:
        for key, p in table["regions"][region]["prices"].items():
            usd = "-" if p["usd"] is None else rate(p["usd"])
            w(f"| {p['what']} | {region} | {usd} | {p['unit']} | [{p['page']}]({p['source']}) | {p['as_of']} | "
              f"{p.get('note', '')} |")
    w("")
    w(f"Original estimate: {orig['source']}.")
    w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default=DOC, help="where to write (default docs/aws-cost.md)")
    ap.add_argument("--check", action="store_true", help="compare with --output instead of writing")
    args = ap.parse_args()
    with open(PRICES, encoding="utf-8") as f:
        table = json.load(f)
    text = render(table)
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       args.output, "regenerated"))
            print(f"cost.py: {args.output} is stale: run python3 deploy/aws/cost.py")
            return 1
        print(f"cost.py: {args.output} is current")
        return 0
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"cost.py: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
