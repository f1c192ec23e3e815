#!/usr/bin/env python3
"""The enclave entry keeps the SysV stack alignment: from encl_stack_top (16-byte aligned) to `call encl_body`,
what encl_entry pushes and subtracts is a multiple of 16, so RSP % 16 == 0 at the call and encl_body may use
aligned stack slots (SSE spills, a callee). Read from the enclave image's disassembly (objdump)."""
import re
import subprocess
import sys


def main():
    elf, objdump = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "objdump"
    syms = subprocess.run(["nm", elf], capture_output=True, text=True, check=True).stdout
    top = next((int(l.split()[0], 16) for l in syms.splitlines() if l.endswith(" encl_stack_top")), None)
    if top is None:
        print("FAIL: no encl_stack_top symbol")
        return 1
    dis = subprocess.run([objdump, "-d", "--no-show-raw-insn", elf], capture_output=True, text=True,
                         check=True).stdout
    body = dis[dis.index("<encl_entry>:"):]
    depth, seen_switch = 0, False
    for line in body.splitlines()[1:]:
        ins = line.split("\t", 1)[-1].strip()
        if ins.startswith("xchg") and "%rsp" in ins:
            seen_switch = True  # RSP = encl_stack_top from here
            continue
        if not seen_switch:
            continue
        if ins.startswith("push"):
            depth += 8
        elif m := re.match(r"sub\s+\$0x([0-9a-f]+),%rsp", ins):
            depth += int(m.group(1), 16)
        elif m := re.match(r"add\s+\$0x([0-9a-f]+),%rsp", ins):
            depth -= int(m.group(1), 16)
        elif ins.startswith("call"):
            break
    ok = seen_switch and top % 16 == 0 and depth % 16 == 0
    print(f"{'ok' if ok else 'FAIL'}: encl_stack_top 0x{top:x}, {depth} bytes below it at `call encl_body` "
          f"(RSP % 16 = {(top - depth) % 16})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
