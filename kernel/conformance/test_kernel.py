"""Jupyter kernel conformance test of the installed "Go (stylelab)" kernelspec (GoNB), with Debian's
python3-jupyter-kernel-test. Run by kernel/setup's TestKernelConformance (go test, without -short):

    /usr/bin/python3 -m unittest -v test_kernel        (in this folder)

Completion and inspection are not tested: GoNB answers them only through gopls, which stylelab does not install.
"""
import os
import unittest

import jupyter_kernel_test

# A cold Go build of a cell takes longer than jupyter_kernel_test's default 15 s.
CELL_TIMEOUT = int(os.environ.get("STYLELAB_CONFORMANCE_TIMEOUT", "240"))


class StylelabKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = os.environ.get("STYLELAB_KERNEL_NAME", "stylelab")
    language_name = "go"
    file_extension = ".go"

    code_hello_world = '%%\nfmt.Println("hello, world")'
    code_stderr = '%%\nfmt.Fprintln(os.Stderr, "to stderr")'
    code_display_data = [
        {"code": '%%\ngonbui.DisplayHTML("<b>bold</b>")', "mime": "text/html"},
    ]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # What the notebooks' first cell does: make this repository's packages (and gonbui, through its go.mod)
        # importable from cells.
        cls.kc.execute_interactive(
            "!*go mod edit -require github.com/stylelab/stylelab@v0.0.0 "
            "-replace github.com/stylelab/stylelab=${STYLELAB_ROOT}",
            timeout=CELL_TIMEOUT,
        )
        cls.kc.execute_interactive(
            'import (\n\t"fmt"\n\t"os"\n\t"github.com/janpfeifer/gonb/gonbui"\n'
            '\t"github.com/stylelab/stylelab/kernel/nbui"\n)\n%%\nfmt.Println("ready")',
            timeout=CELL_TIMEOUT,
        )

    def execute_helper(self, code, timeout=CELL_TIMEOUT, **kw):
        return super().execute_helper(code, timeout=timeout, **kw)

    def test_stylelab_environment(self):
        """The kernelspec's environment reaches cell programs."""
        self.flush_channels()
        reply, out = self.execute_helper(
            '%%\nfmt.Println("db=" + os.Getenv("STYLELAB_DB"), "root=" + os.Getenv("STYLELAB_ROOT"))'
        )
        self.assertEqual(reply["content"]["status"], "ok")
        text = "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream")
        self.assertRegex(text, r"db=/\S+\.db root=/\S+")

    def test_nbui_table(self):
        """A cell using kernel/nbui displays HTML (the repository module is importable from cells)."""
        self.flush_channels()
        reply, out = self.execute_helper('%%\nnbui.Table("t", []string{"a"}, [][]string{{"<1>"}})')
        detail = [(m["msg_type"], m["content"]) for m in out]
        self.assertEqual(reply["content"]["status"], "ok", detail)
        html = [m["content"]["data"].get("text/html", "") for m in out if m["msg_type"] == "display_data"]
        self.assertTrue(any("<td" in h and "&lt;1&gt;" in h for h in html), detail)

    def test_compile_error_is_an_error_reply(self):
        self.flush_channels()
        reply, out = self.execute_helper("%%\nundefinedName()", stop_on_error=False)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertIn("error", [m["msg_type"] for m in out])


if __name__ == "__main__":
    unittest.main()
