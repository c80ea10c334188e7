"""The Prometheus text a CoreDNS pod serves on its metrics port: what the wizard's QPS and error
panes read. Metric names follow the pod's version (renamed in CoreDNS 1.7.0)."""

from __future__ import annotations

from collections import Counter

BUILDS = {  # version → (go version, revision) as `coredns -version` prints them
    (1, 6, 2): ("go1.12.8", "795a3eb"),
    (1, 6, 7): ("go1.13.6", "da7f65b"),
    (1, 7, 0): ("go1.14.4", "f59c03d"),
    (1, 8, 0): ("go1.15.3", "054c9ae"),
    (1, 8, 4): ("go1.16.4", "053c4d5"),
    (1, 8, 6): ("go1.17.1", "13a9191"),
    (1, 9, 3): ("go1.18.2", "45b0a11"),
    (1, 10, 1): ("go1.20", "055b2c3"),
    (1, 11, 1): ("go1.20.7", "ae2bbc2"),
}


def version_text(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


class Metrics:
    """The Prometheus counters the wizard reads (names as of CoreDNS 1.7.0; older versions used
    coredns_dns_request_count_total and coredns_dns_response_rcode_count_total)."""

    def __init__(self, version: tuple[int, int, int]) -> None:
        self.version = version
        self.requests: Counter[tuple[str, str, str, str, str]] = Counter()
        self.responses: Counter[tuple[str, str, str, str]] = Counter()
        self.reload_failed = 0

    def record(
        self, server: str, zone: str, proto: str, family: str, qtype: str, rcode: str, plugin: str
    ) -> None:
        self.requests[(server, zone, proto, family, qtype)] += 1
        self.responses[(server, zone, rcode, plugin)] += 1

    def render(self, cache_sizes: list[int]) -> str:
        go, revision = BUILDS.get(self.version, ("go1.20", "lab"))
        lines = [
            "# HELP coredns_build_info A metric with a constant '1' value labeled by version, revision, "
            "and goversion from which CoreDNS was built.",
            "# TYPE coredns_build_info gauge",
            f'coredns_build_info{{goversion="{go}",revision="{revision}",'
            f'version="{version_text(self.version)}"}} 1',
        ]
        new_names = self.version >= (1, 7, 0)
        requests = "coredns_dns_requests_total" if new_names else "coredns_dns_request_count_total"
        responses = "coredns_dns_responses_total" if new_names else "coredns_dns_response_rcode_count_total"
        lines += [
            f"# HELP {requests} Counter of DNS requests made per zone, protocol and family.",
            f"# TYPE {requests} counter",
        ]
        for (server, zone, proto, family, qtype), count in sorted(self.requests.items()):
            type_label = f',type="{qtype}"' if new_names else ""
            lines.append(
                f'{requests}{{family="{family}",proto="{proto}",server="{server}"{type_label},'
                f'zone="{zone}"}} {count}'
            )
        lines += [f"# HELP {responses} Counter of response status codes.", f"# TYPE {responses} counter"]
        for (server, zone, rcode, plugin), count in sorted(self.responses.items()):
            plugin_label = f'plugin="{plugin}",' if new_names else ""
            lines.append(
                f'{responses}{{{plugin_label}rcode="{rcode}",server="{server}",zone="{zone}"}} {count}'
            )
        lines += [
            "# HELP coredns_cache_entries The number of elements in the cache.",
            "# TYPE coredns_cache_entries gauge",
            f'coredns_cache_entries{{server="dns://:53",type="success"}} {sum(cache_sizes)}',
            "# HELP coredns_reload_failed_total Counter of the number of failed reload attempts.",
            "# TYPE coredns_reload_failed_total counter",
            f"coredns_reload_failed_total {self.reload_failed}",
        ]
        return "\n".join(lines) + "\n"
