"""The dns area in Chinese: `check-corefile`, `translate` and `versions` as the operator runs them
with `--lang zh`, and the engine's refusals rendered again in either language.

What stays English on purpose: the Corefile itself, object names and paths, and CoreDNS's own error
text quoted from its sources ("Unknown directive 'x'", "unknown property", ...), which an operator
matches against CoreDNS's logs; those quotes are removed before looking for English prose.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.i18n_support import english_prose
from wizard.i18n import tr

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CONFIGMAP = FIXTURES / "kube-dns-configmap.yaml"
DEPLOYMENT = FIXTURES / "kube-dns-deployment.yaml"

COREFILE = """\
.:53 {
    errors
    health {
        lameduck 5x
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        upstream
        endpoint https://a:6443 https://b:6443
        fallthrough in-addr.arpa ip6.arpa
        multicluster other.zone
    }
    forward . 8.8.8.8 foo.example.com:53 https://x
    forward . 1.1.1.1
    cache 30 {
        success 10 10 10 10
    }
    loop
    nosuchplugin
}
example.org:53 {
    forward
}
"""

COREDNS_OWN_WORDS = (
    # CoreDNS's error text, quoted as CoreDNS writes it (plugin/*/setup.go, core/dnsserver)
    "Unknown directive",
    "unknown property",
    "this plugin can only be used once per Server Block",
    "is not authoritative for the multicluster zone",
    "not an IP address or file",
    "is not supported as a destination protocol in forward before CoreDNS",
    "Wrong argument count or unexpected line ending after",
)


def _without_coredns_words(text: str) -> str:
    for words in COREDNS_OWN_WORDS:
        text = text.replace(words, " ")
    return text


def wizard(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "wizard", *map(str, args), "--lang", "zh"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=env, stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr
    return done




# ---------------------------------------------------------------- check-corefile


def test_check_corefile_in_chinese_keeps_the_contract_and_coredns_words(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(COREFILE, encoding="utf-8")
    done = wizard(tmp_path, "check-corefile", corefile, "--coredns-version", "1.6.7")
    assert done.returncode == 1, done.stderr
    out = done.stdout + done.stderr
    for line in done.stdout.splitlines():  # FILE:LINE: error: message, for scripts, in every language
        assert line.startswith(f"{corefile}:") and ": error: " in line
    assert "health: 选项 'lameduck' 的值 '5x' 无效:CoreDNS 在此处需要的是:Go 格式的时长" in out
    assert "Unknown directive 'nosuchplugin': 向导所知的 CoreDNS 版本中都没有名为 'nosuchplugin' 的插件" in (
        out
    )
    assert "forward: this plugin can only be used once per Server Block(已在第 13 行使用)" in out
    assert "kubernetes 的选项 'upstream' 自 CoreDNS 1.5.0 起仍被接受但不再生效,且 CoreDNS 1.7.0 会拒绝它" in (
        out
    )
    assert "kubernetes 的选项 'endpoint' 有 2 个参数:CoreDNS 1.4.0 及以上版本只使用第一个" in out
    assert f"{corefile}: CoreDNS 1.6.7 会拒绝此 Corefile(9 个错误,2 个警告)" in done.stderr
    assert english_prose(_without_coredns_words(out)) == []


def test_check_corefile_help_and_read_errors_in_chinese(tmp_path: Path) -> None:
    missing = wizard(tmp_path, "check-corefile", tmp_path / "nope", "--coredns-version", "1.8.4")
    assert missing.returncode == 2
    assert f"Corefile '{tmp_path / 'nope'}' 不存在;请提供 Corefile 的路径" in missing.stderr
    assert english_prose(missing.stderr) == []
    old = wizard(tmp_path, "check-corefile", tmp_path / "nope", "--coredns-version", "0.9.0")
    assert "CoreDNS 版本 '0.9.0' 早于 1.0.0,即向导所知的最早版本" in old.stderr
    helped = wizard(tmp_path, "check-corefile", "--help")
    assert "按某个 CoreDNS 版本的插件和选项检查 Corefile(会被拒绝时退出码为 1)。" in helped.stdout
    assert "将运行它的 CoreDNS 版本,如 1.8.4、v1.11.1 或 1.11.1-tke.1" in helped.stdout


# ---------------------------------------------------------------- translate


def test_translate_warnings_in_chinese_and_the_corefile_as_it_is(tmp_path: Path) -> None:
    done = wizard(
        tmp_path, "translate", "--kube-dns-configmap", CONFIGMAP, "--kube-dns-deployment", DEPLOYMENT,
        "--coredns-version", "1.6.7", "--translate-written-config",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(".:53 {\n    template ANY HINFO . {")  # the Corefile is never translated
    warnings = done.stderr.splitlines()
    assert warnings and all(line.startswith("警告:") for line in warnings), done.stderr
    assert f"警告:{CONFIGMAP}: kube-dns 忽略了整个 ConfigMap,以默认配置运行" in done.stderr
    # kube_dns_refusal strips the location from the reason in Chinese too: it is said once
    assert "原因:data.federations 是 JSON" in done.stderr
    assert "适用于 CoreDNS 1.6.7 的 Corefile:kubernetes 的选项 'upstream'" in done.stderr
    # kube-dns's own log line is quoted as kube-dns writes it
    assert english_prose(done.stderr.replace('"Invalid configuration ..., ignoring update"', "")) == []


def test_translate_refusal_and_dropped_federations_in_chinese(tmp_path: Path) -> None:
    refused = wizard(tmp_path, "translate", "--kube-dns-configmap", CONFIGMAP, "--coredns-version", "1.8.4",
                     "--translate-written-config")
    assert refused.returncode == 2
    refusal = "无法迁移 data.federations(foo=foo.feddomain.com):CoreDNS 1.8.4 没有 federation 插件"
    assert refusal in refused.stderr
    assert english_prose(refused.stderr) == []
    dropped = wizard(tmp_path, "translate", "--kube-dns-configmap", CONFIGMAP, "--coredns-version", "1.8.4",
                     "--translate-written-config", "--drop-federations")
    assert dropped.returncode == 0, dropped.stderr
    assert "已丢弃来自" in dropped.stderr and "因此联邦服务名将无法再解析" in dropped.stderr
    assert english_prose(dropped.stderr.replace('"Invalid configuration ..., ignoring update"', "")) == []


# ---------------------------------------------------------------- versions


def test_versions_in_chinese_with_sources_and_reasons(tmp_path: Path) -> None:
    done = wizard(tmp_path, "versions", "--k8s-version", "1.40")
    assert done.returncode == 0, done.stderr
    assert "来源:向导所知的最新 CoreDNS 版本" in done.stdout
    assert "原因:Kubernetes 1.40 比 kubeadm 版本表更新(该表截止于 1.32)" in done.stdout
    assert "kubeadm 的版本表(coredns/deployment CoreDNS-k8s_version.md)" in done.stdout
    assert english_prose(done.stdout) == []
    tke = wizard(tmp_path, "versions", "--k8s-version", "1.22",
                 "--kube-dns-image", "ccr.ccs.tencentyun.com/tkeimages/kubedns-amd64:1.14.13")
    assert "kube-dns 来自 TKE 镜像仓库 ccr.ccs.tencentyun.com,因此适用 TKE 版本表" in tke.stdout
    assert english_prose(tke.stdout) == []


def test_versions_json_names_the_message_ids(tmp_path: Path) -> None:
    done = wizard(tmp_path, "versions", "--k8s-version", "1.13",
                  "--kube-dns-image", "ccr.ccs.tencentyun.com/x/kubedns:1", "-o", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["source"] == "kubeadm 的版本表(coredns/deployment CoreDNS-k8s_version.md)"
    assert document["source_message"] == {"id": "dns.source-kubeadm", "params": {}}
    assert document["reason_message"]["id"] == "dns.reason-kubeadm-tke-silent"
    assert document["reason_message"]["params"]["how"]["id"] == "dns.table-row"
    beyond = json.loads(wizard(tmp_path, "versions", "--k8s-version", "1.40", "-o", "json").stdout)
    assert beyond["reason_message"]["id"] == "dns.reason-beyond-kubeadm"
    sources = [a["source_message"]["id"] for a in beyond["alternatives"]]
    assert sources == ["dns.source-kubeadm", "dns.source-tke"]


def test_version_errors_in_chinese(tmp_path: Path) -> None:
    old = wizard(tmp_path, "versions", "--k8s-version", "1.10")
    assert old.returncode == 2
    assert "Kubernetes 版本 '1.10' 早于 1.12" in old.stderr
    bad = wizard(tmp_path, "versions", "--k8s-version", "one")
    assert "Kubernetes 版本 'one' 不是 1.22 或 1.22.3 这样的版本号" in bad.stderr
    assert english_prose(old.stderr + bad.stderr) == []


# ---------------------------------------------------------------- the engine, unit level


def test_kube_dns_refusals_render_in_either_language(zh: None) -> None:
    from wizard.dns.kubedns_config import kube_dns_refusal, parse_dnsmasq_server, parse_upstream_nameservers
    from wizard.errors import InputError

    with pytest.raises(InputError) as caught:
        parse_upstream_nameservers('["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]', "cm.yaml")
    message = caught.value.args[0]
    assert str(message) == "cm.yaml: data.upstreamNameservers 有 4 项;kube-dns 最多接受 3 项:请删除 1 项"
    assert tr(message, "en") == (
        "cm.yaml: data.upstreamNameservers has 4 entries; kube-dns accepts at most 3: remove 1"
    )
    refusal = kube_dns_refusal({"federations": '{"a": "b.com"}'}, "cm.yaml")
    assert refusal is not None and refusal.startswith("data.federations 是 JSON")
    from wizard.dns.kubedns_config import KubeDNSListener

    with pytest.raises(InputError) as loop:
        parse_dnsmasq_server("/acme.local/127.0.0.1#5353", "dep.yaml", "cluster.local", KubeDNSListener())
    text = str(loop.value.args[0])
    assert text.startswith(
        "dep.yaml: dnsmasq --server=/acme.local/127.0.0.1#5353 转发到回环地址(127.0.0.1#5353)"
    )
    assert english_prose(text) == []


def test_image_reasons_and_errors_in_chinese(zh: None) -> None:
    from wizard.dns.images import coredns_image, parse_image
    from wizard.errors import InputError

    choice = coredns_image("1.8.4", image_host="registry.example.com")
    assert choice.reason == (
        "CoreDNS 1.8.0 及以上版本的上游镜像仓库命名方式(coredns/coredns:vX.Y.Z),"
        "仓库地址已替换为 --image-host registry.example.com"
    )
    with pytest.raises(InputError) as caught:
        parse_image("coredns/coredns", "--image")
    assert str(caught.value) == "--image 'coredns/coredns' 没有标签或摘要;请固定一个,如 coredns/coredns:1.8.4"


def test_translate_notes_about_the_kube_dns_deployment_in_chinese(tmp_path: Path) -> None:
    configmap = tmp_path / "cm.yaml"
    configmap.write_text(
        "kind: ConfigMap\ndata:\n"
        "  stubDomains: '{\"consul.local\": [\"consul-dns.consul.svc.cluster.local\"]}'\n"
        "  extra: x\n",
        encoding="utf-8",
    )
    deployment = tmp_path / "dep.yaml"
    deployment.write_text(
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - name: kubedns\n        image: k8s.gcr.io/kubedns:1.14\n"
        "        args: [\"--domain=cluster.local.\", \"--dns-port=10053\"]\n"
        "      - name: dnsmasq\n        image: k8s.gcr.io/dnsmasq:1.14\n"
        "        args: [\"--server=/in6.arpa/127.0.0.1#10053\"]\n",
        encoding="utf-8",
    )
    done = wizard(tmp_path, "translate", "--kube-dns-configmap", configmap,
                  "--kube-dns-deployment", deployment, "--coredns-version", "1.14.5")
    assert done.returncode == 0, done.stderr
    assert f"警告:{configmap}: 键 'extra' 不是 kube-dns 会读取的键;不会迁移它" in done.stderr
    assert "把 in6.arpa 发往 kubedns 容器自身(端口 10053)" in done.stderr
    assert "是集群 Service 名称:CoreDNS 在启动时通过节点的解析器解析一次该名称" in done.stderr
    assert english_prose(done.stderr) == []
