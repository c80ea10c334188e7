"""`coredns-wizard lab`: run a simulated kube-dns cluster in the foreground to try the wizard on.

It writes a kubeconfig that kubectl and the wizard use unmodified, prints how to use it, and
stops cleanly (every socket closed) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import sys

from wizard.i18n import N_, t

TYPE_CHECKING = False  # `--help` imports this module for HELP: the rest loads when the lab runs
if TYPE_CHECKING:
    from pathlib import Path
    from types import FrameType

HELP = N_("run a simulated Kubernetes cluster still on kube-dns (the lab) until Ctrl-C")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    parser.add_argument("--kubeconfig-out", type=Path, metavar="FILE", default=Path("lab.kubeconfig"),
                        help=t("where to write the lab's kubeconfig (default: ./lab.kubeconfig)"))
    parser.add_argument("--k8s-version", default="1.20.15", metavar="V",
                        help=t("Kubernetes version the lab reports (default 1.20.15)"))
    parser.add_argument("--nodes", type=int, default=3, metavar="N", help=t("number of nodes (default 3)"))
    parser.add_argument("--kube-dns-replicas", type=int, default=3, metavar="N",
                        help=t("kube-dns replicas (default 3)"))
    parser.add_argument("--proxy-mode", default="ipvs", metavar="ipvs|iptables",
                        help=t("kube-proxy mode (default ipvs)"))
    parser.add_argument("--kube-dns-configmap", type=Path, metavar="FILE",
                        help=t("a kube-dns ConfigMap manifest replacing the default customisation"))
    parser.add_argument("--guide-configmap", action="store_true",
                        help=t("use the guide's full kube-dns ConfigMap (with federations)"))
    parser.add_argument("--fault", action="append", default=[], metavar="NAME",
                        help=t("inject a fault (repeatable); see --list-faults"))
    parser.add_argument("--list-faults", action="store_true", help=t("list the faults and exit"))
    parser.add_argument("--speed", type=float, default=1.0, metavar="X",
                        help=t("run X times faster than real time (default 1)"))
    parser.add_argument("--dns-port", type=int, default=None, metavar="N",
                        help=t("port every lab DNS server listens on (default 53 as root, else 1053; "
                               "0 = free)"))
    parser.add_argument("--extra-pods", type=int, default=0, metavar="N",
                        help=t("extra running pods spread over bulk-NN namespaces (scale tests)"))
    parser.add_argument("--extra-services", type=int, default=0, metavar="N",
                        help=t("extra Services spread over bulk-NN namespaces (scale tests)"))
    parser.add_argument("--cluster-domain", default="cluster.local", metavar="D",
                        help=t("the cluster's DNS domain: kube-dns --domain and the pods' search paths "
                             "(default cluster.local)"))
    parser.add_argument("--preset", default="tke", metavar="NAME",
                        help=t("the cluster's shape: kube-dns Deployment, autoscaler, nodes (default tke); "
                             "see --list-presets"))
    parser.add_argument("--list-presets", action="store_true",
                        help=t("list the presets and what each is modelled on, and exit"))
    parser.add_argument("--api-rtt-ms", type=float, default=0.0, metavar="MS",
                        help=t("add a round trip of MS milliseconds between clients and the API server, "
                             "as over a WAN (default 0)"))
    parser.add_argument("--kernel", default="old", metavar="old|fixed",
                        help=t("node kernel: TencentOS 3.1 0009.11 (old) or 0009.28 (fixed IPVS flows)"))


def _usage(lab: object, kubeconfig: Path) -> str:
    from wizard.durations import human_duration
    from wizard.lab.cluster import Lab

    assert isinstance(lab, Lab)
    domain = lab.options.cluster_domain.rstrip(".")
    summary = t(
        "The lab is running ({preset} preset, Kubernetes {k8s_version}, {nodes} nodes, "
        "kube-dns x{replicas}, started in {startup}).",
        preset=lab.options.preset, k8s_version=lab.options.k8s_version, nodes=lab.options.nodes,
        replicas=lab.options.kube_dns_replicas, startup=human_duration(lab.startup_seconds),
    )
    return (
        f"{summary}\n\n"
        f"  export KUBECONFIG={kubeconfig.resolve()}\n"
        "  kubectl get pods -n kube-system -o wide\n"
        f"  dig @{lab.dns_service_ip} -p {lab.dns_port} kubernetes.default.svc.{domain}\n\n"
        + t("Next, in a shell with that KUBECONFIG exported:") + "\n"
        "  coredns-wizard plan                      # " + t("pre-flight and the step plan") + "\n"
        "  coredns-wizard switch --observe 30s      # " + t("switch to CoreDNS, one replica at a time") + "\n"
        "  coredns-wizard status                    # " + t("where the switch stands") + "\n"
        "  coredns-wizard rollback                  # " + t("back to kube-dns") + "\n"
        "  coredns-wizard                           # " + t("the same, in the terminal UI") + "\n\n"
        + t("Press Ctrl-C to stop.") + "\n"
    )


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from wizard.errors import InputError
    from wizard.lab.cluster import Lab, LabOptions
    from wizard.lab.faults import FAULTS

    if args.list_presets:
        from wizard.lab.presets import describe_presets

        for name, summary, modelled_on in describe_presets():
            print(f"{name:10} {summary}\n{'':10} " + t("modelled on: {source}", source=modelled_on))
        return 0
    if args.list_faults:
        for name, description in FAULTS.items():
            print(f"{name:20} {description}")
        return 0
    if args.kube_dns_configmap is not None and args.guide_configmap:
        raise InputError(t("--kube-dns-configmap and --guide-configmap: give one or the other"))
    options = LabOptions(
        k8s_version=args.k8s_version, nodes=args.nodes, kube_dns_replicas=args.kube_dns_replicas,
        proxy_mode=args.proxy_mode, kube_dns_configmap=args.kube_dns_configmap,
        guide_configmap=args.guide_configmap, faults=tuple(args.fault), speed=args.speed,
        dns_port=args.dns_port, kernel=args.kernel, cluster_domain=args.cluster_domain, preset=args.preset,
        kubeconfig_path=args.kubeconfig_out,
        extra_pods=args.extra_pods, extra_services=args.extra_services, start_timeout=600.0,
        api_rtt_ms=args.api_rtt_ms,
    )
    stop = threading.Event()
    started = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if not started.is_set():  # still starting: interrupt the wait, lab.start() stops what it began
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_signal)
    lab = Lab(options)  # validates the options: InputError, exit 2
    try:
        lab.start()
        started.set()
        print(_usage(lab, args.kubeconfig_out), flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except TimeoutError as err:
        print(f"coredns-wizard lab: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a socket the lab needs could not be bound
        print("coredns-wizard lab: " + t("cannot start: {error}", error=err), file=sys.stderr)
        return 1
    finally:
        lab.stop()
        signal.signal(signal.SIGTERM, previous)
    print(t("lab stopped"), file=sys.stderr)
    return 0
