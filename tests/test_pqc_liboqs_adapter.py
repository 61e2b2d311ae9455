"""The liboqs adapter against liboqs-python's documented interface, without liboqs.

The real cross-check with liboqs lives in test_pqc_backends.py and skips when the library is
absent (as on this project's machines). This test exercises meshlab's liboqs code path end
to end anyway: a stand-in ``oqs`` package implementing liboqs-python's documented API
(``KeyEncapsulation``/``Signature`` with ``generate_keypair``, ``export_secret_key``,
``encap_secret``, ``decap_secret``, ``sign``, ``verify``, ``*_with_ctx_str``, ``details``,
``get_enabled_*_mechanisms``, ``oqs_version``) on top of the real pqcrypto primitives,
found through ``$OQS_INSTALL_PATH/lib/liboqs.so``. Like the real package it prints and warns
at import; meshlab must keep both out of the caller's stdout and warnings.
"""

import ctypes.util
import glob
import os
import subprocess
import sys
import textwrap

import pytest

STANDIN = textwrap.dedent(
    """
    import importlib
    import logging
    import sys
    import warnings

    # Like liboqs-python: a module logger writing to stdout, a banner and a warning.
    logger = logging.getLogger(__name__)
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler(sys.stdout))
    print("liboqs-python stand-in: import-time banner on stdout")
    warnings.warn("liboqs version 0.16.0-standin differs from liboqs-python version")

    _KEMS = {"ML-KEM-512": "kem.ml_kem_512", "ML-KEM-768": "kem.ml_kem_768",
             "ML-KEM-1024": "kem.ml_kem_1024"}
    _SIGS = {"ML-DSA-44": "sign.ml_dsa_44", "ML-DSA-65": "sign.ml_dsa_65",
             "ML-DSA-87": "sign.ml_dsa_87", "SLH_DSA_PURE_SHA2_128F": "sign.slh_dsa_sha2_128f"}

    def oqs_version():
        return "0.16.0-standin"

    def get_enabled_kem_mechanisms():
        return list(_KEMS)

    def get_enabled_sig_mechanisms():
        return list(_SIGS)

    class _Base:
        def __init__(self, alg_name, secret_key=None):
            table = _KEMS if isinstance(self, KeyEncapsulation) else _SIGS
            self._m = importlib.import_module("pqcrypto." + table[alg_name])
            self.secret_key = secret_key
            logger.info("stand-in: new %s", alg_name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.free()
        def free(self):
            self.secret_key = None
        def generate_keypair(self):
            pk, self.secret_key = self._m.keygen()
            return pk
        def export_secret_key(self):
            return self.secret_key

    class KeyEncapsulation(_Base):
        def __init__(self, alg_name, secret_key=None):
            super().__init__(alg_name, secret_key)
            m = self._m
            self.details = {"name": alg_name, "length_public_key": m.PUBLIC_KEY_SIZE,
                            "length_secret_key": m.SECRET_KEY_SIZE,
                            "length_ciphertext": m.CIPHERTEXT_SIZE,
                            "length_shared_secret": m.SHARED_SECRET_SIZE}
        def encap_secret(self, public_key):
            return self._m.encaps(public_key)
        def decap_secret(self, ciphertext):
            return self._m.decaps(self.secret_key, ciphertext)

    class Signature(_Base):
        def __init__(self, alg_name, secret_key=None):
            super().__init__(alg_name, secret_key)
            m = self._m
            self.details = {"name": alg_name, "length_public_key": m.PUBLIC_KEY_SIZE,
                            "length_secret_key": m.SECRET_KEY_SIZE,
                            "length_signature": m.SIGNATURE_SIZE}
        def sign(self, message):
            return self._m.sign(self.secret_key, message)
        def sign_with_ctx_str(self, message, context):
            return self._m.sign(self.secret_key, message, context)
        def verify(self, message, signature, public_key):
            try:
                self._m.verify(public_key, message, signature)
            except ValueError:
                return False
            return True
        def verify_with_ctx_str(self, message, signature, context, public_key):
            try:
                self._m.verify(public_key, message, signature, context)
            except ValueError:
                return False
            return True
    """
)

SCRIPT = textwrap.dedent(
    """
    import sys
    from meshlab import crypto
    from meshlab.reporting.provenance import provenance
    assert crypto.available_backends()[0] == "liboqs", crypto.available_backends()
    assert crypto.default_backend() == "liboqs"
    assert "0.16.0-standin" in crypto.backend_version("liboqs")
    assert provenance(0)["pqc_backend"].startswith("liboqs 0.16.0-standin")
    listed = crypto.algorithms("liboqs")
    assert listed["kem"] == ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"), listed
    assert "SLH-DSA-SHA2-128f" in listed["signature"], listed
    for alg in listed["kem"]:
        k, ref = crypto.kem(alg), crypto.kem(alg, "pqcrypto")
        assert k.backend == "liboqs" and k.sizes == ref.sizes
        pk, sk = k.keygen()
        ct, ss = ref.encaps(pk)
        assert k.decaps(sk, ct) == ss
        pk, sk = ref.keygen()
        ct, ss = k.encaps(pk)
        assert ref.decaps(sk, ct) == ss
    for alg in listed["signature"]:
        d, ref = crypto.signature_scheme(alg), crypto.signature_scheme(alg, "pqcrypto")
        assert d.backend == "liboqs" and d.sizes == ref.sizes
        pk, sk = d.keygen()
        sig = d.sign(sk, b"m")
        assert ref.verify(pk, b"m", sig) and d.verify(pk, b"m", sig)
        assert not d.verify(pk, b"n", sig) and not d.verify(pk, b"m", sig[:-1])
        csig = d.sign(sk, b"m", context=b"ctx")
        assert ref.verify(pk, b"m", csig, context=b"ctx") and d.verify(pk, b"m", csig, b"ctx")
        assert not d.verify(pk, b"m", csig)
    df = crypto.benchmark(["ML-KEM-512"], backends=["liboqs"], n_ops=10, warmup=0)
    assert df["version"][0].startswith("liboqs 0.16.0-standin"), df
    print("ADAPTER-OK")
    """
)


def _loadable_library():
    name = ctypes.util.find_library("m")
    if not name:
        return None
    for pattern in (f"/lib*/{name}", f"/usr/lib*/{name}", f"/lib/*/{name}", f"/usr/lib/*/{name}"):
        hits = glob.glob(pattern)
        if hits:
            return hits[0]
    return None


@pytest.mark.skipif(_loadable_library() is None, reason="no loadable stand-in shared library")
def test_liboqs_adapter_with_documented_api_standin(tmp_path):
    pkg = tmp_path / "site" / "oqs"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(STANDIN)
    lib = tmp_path / "install" / "lib"
    lib.mkdir(parents=True)
    (lib / "liboqs.so").symlink_to(_loadable_library())
    env = {
        **os.environ,
        "OQS_INSTALL_PATH": str(tmp_path / "install"),
        "PYTHONPATH": os.pathsep.join([str(pkg.parent), os.environ.get("PYTHONPATH", "")]),
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines() == ["ADAPTER-OK"]  # the banner was swallowed
