// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod symbol layer: resolves and calls the non-exported kernel functions
 * listed in include/ksmmod/symbols.h.
 *
 * DOC: Resolution
 *
 * kallsyms_lookup_name() itself is not exported since 5.7. Its address is
 * read from a kprobe registered on it (kprobe.addr), and the kprobe is removed
 * at once. Every other symbol is then looked up by name. A symbol is accepted
 * only if it lies in the core kernel text (_stext.._etext) and, on kernels
 * built with CONFIG_X86_KERNEL_IBT, begins with ENDBR64 or with the 4-byte
 * NOP the kernel writes over ENDBR64 when it "seals" a function: that is
 * what every function entry of such a kernel looks like, so a data symbol, a
 * wrong address or a .cold fragment is refused. Any failure makes
 * ksmmod_symbols_init() fail, with a message naming the symbol and the
 * kernel release; nothing is left registered. Variables
 * (KSMMOD_DATA_SYMBOLS()) are looked up the same way and must lie in the
 * kernel's data (_sdata.._end), never in its text.
 *
 * DOC: IBT-safe calls
 *
 * With Indirect Branch Tracking enforced, an indirect CALL or JMP must land
 * on ENDBR64, and the kernel seals (removes ENDBR64 from) every function whose
 * address the kernel itself never takes, which includes kallsyms_lookup_name
 * and nearly all of mm's internals. Calling them through a function pointer
 * would raise #CP. QEMU does not emulate IBT, so this cannot be tested here;
 * it is made right by construction instead:
 *
 * - ksmmod code never holds a pointer to a kernel function. It calls
 *   kcall_<name>() directly (a direct CALL, not checked by IBT), with the
 *   prototype of the real function.
 * - kcall_<name> is a thunk: "pushq kaddr_<name>(%rip); ret". The arguments
 *   are still in their registers and the caller's return address is still on
 *   the stack, so the RET enters the target as if it had been called from
 *   ksmmod's call site, and the target returns straight there. RET is not
 *   covered by IBT (and the kernel does not use user-mode shadow stacks for
 *   itself), so a sealed function is entered safely. With return thunks
 *   configured (CONFIG_RETHUNK / CONFIG_MITIGATION_RETHUNK) the RET is the
 *   kernel's ASM_RET, a jump to __x86_return_thunk, which returns the same way.
 * - The addresses live in __ro_after_init storage: after module init they
 *   cannot be overwritten, so the thunks cannot be redirected.
 */
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/ksm.h>
#include <linux/module.h>
#include <linux/objtool.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include <asm/linkage.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/symbols.h"

/* Storage for each resolved address, read by the thunk of the same name. */
#define KSMMOD_KADDR_DEFINE(ret, sym, params, declared)			\
	static unsigned long kaddr_##sym __used __ro_after_init;
KSMMOD_SYMBOLS(KSMMOD_KADDR_DEFINE)

/*
 * The thunks (see "IBT-safe calls" above). They are global so that the rest
 * of the module can call them; they have no ENDBR64 because nothing may call
 * them indirectly.
 */
#define KSMMOD_THUNK_DEFINE(ret, sym, params, declared)			\
	asm(".pushsection .text, \"ax\", @progbits\n"				\
	    ".globl kcall_" #sym "\n"						\
	    ".type kcall_" #sym ", @function\n"				\
	    "kcall_" #sym ":\n"						\
	    "	pushq kaddr_" #sym "(%rip)\n"					\
	    "	" ASM_RET							\
	    ".size kcall_" #sym ", . - kcall_" #sym "\n"			\
	    ".popsection\n");
KSMMOD_SYMBOLS(KSMMOD_THUNK_DEFINE)

/*
 * objtool cannot follow a RET into a pushed address and would report a
 * modified stack frame: tell it these two-instruction thunks are deliberate.
 * (This only records the name in a discarded section; no pointer to a thunk
 * exists at run time.)
 */
#define KSMMOD_THUNK_OBJTOOL(ret, sym, params, declared)			\
	STACK_FRAME_NON_STANDARD(kcall_##sym);
KSMMOD_SYMBOLS(KSMMOD_THUNK_OBJTOOL)

/* Where a prototype is in the kernel's headers, ours must match it exactly. */
#define KSMMOD_PROTO_CHECK_0(sym)
#define KSMMOD_PROTO_CHECK_1(sym)						\
	static_assert(__same_type(kcall_##sym, sym),				\
		      "prototype of kcall_" #sym " differs from the kernel's");
#define KSMMOD_PROTO_CHECK(ret, sym, params, declared)			\
	KSMMOD_PROTO_CHECK_##declared(sym)
KSMMOD_SYMBOLS(KSMMOD_PROTO_CHECK)

/**
 * struct ksmmod_symbol - one entry of the resolved-symbol table
 * @name: the kernel symbol
 * @addr: where its resolved address is stored (read by its thunk)
 * @entry: what the first bytes showed ("endbr", "sealed", "plain")
 */
struct ksmmod_symbol {
	const char *name;
	unsigned long *addr;
	const char *entry;
};

#define KSMMOD_TABLE_ENTRY(ret, sym, params, declared)			\
	{ .name = #sym, .addr = &kaddr_##sym },
static struct ksmmod_symbol ksmmod_symbols[] = {
	KSMMOD_SYMBOLS(KSMMOD_TABLE_ENTRY)
};

/* The variables: kvar_<name> points to the kernel's <name>. */
#define KSMMOD_KVAR_DEFINE(type, sym) type *kvar_##sym __ro_after_init;
KSMMOD_DATA_SYMBOLS(KSMMOD_KVAR_DEFINE)

/**
 * struct ksmmod_data_symbol - one entry of the resolved-variable table
 * @name: the kernel symbol
 * @addr: where its resolved address is stored
 */
struct ksmmod_data_symbol {
	const char *name;
	void **addr;
};

#define KSMMOD_DATA_ENTRY(type, sym) { .name = #sym, .addr = (void **)&kvar_##sym },
static struct ksmmod_data_symbol ksmmod_data_symbols[] = {
	KSMMOD_DATA_SYMBOLS(KSMMOD_DATA_ENTRY)
};

/* Testing aid: an extra symbol to require, to exercise the failure path. */
static char *require_symbol;
module_param(require_symbol, charp, 0);
MODULE_PARM_DESC(require_symbol,
		 "testing: also require this kernel symbol (load fails if unusable)");

static unsigned long ksmmod_stext, ksmmod_etext, ksmmod_sdata, ksmmod_end;

/* ENDBR64 (the NOP that replaces it in sealed functions: ksmmod_endbr_poison()). */
static const u8 ksmmod_endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

/**
 * ksmmod_find_kallsyms() - find kallsyms_lookup_name() with a kprobe
 *
 * Return: 0 and kaddr_kallsyms_lookup_name set, or a negative errno.
 */
static int ksmmod_find_kallsyms(void)
{
	/*
	 * Registered disabled: the kprobe is only asked where the symbol is,
	 * never armed. Arming and disarming a kprobe on an ftrace site
	 * allocates (ftrace filter hashes), and a failed disarm is a kernel
	 * WARNING ("Failed to disarm kprobe-ftrace", seen with fault injection
	 * in this unregister): a panic where panic_on_warn is set.
	 */
	struct kprobe kp = {
		.symbol_name = "kallsyms_lookup_name",
		.flags = KPROBE_FLAG_DISABLED,
	};
	unsigned long addr;
	int err;

	err = register_kprobe(&kp);
	if (err) {
		pr_err("cannot find kernel symbol kallsyms_lookup_name in %s: kprobe failed (%d)\n",
		       init_utsname()->release, err);
		return err;
	}
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);

	/*
	 * On IBT kernels the kprobe sits after an (unsealed) ENDBR64. Both
	 * entries are valid for a RET-entered call; use the symbol start so the
	 * entry check below sees the first instruction.
	 */
	if (IS_ENABLED(CONFIG_X86_KERNEL_IBT)) {
		u8 insn[4];

		if (!copy_from_kernel_nofault(insn, (void *)(addr - 4), 4) &&
		    !memcmp(insn, ksmmod_endbr64, 4))
			addr -= 4;
	}
	kaddr_kallsyms_lookup_name = addr;
	return 0;
}

/**
 * ksmmod_check_entry() - refuse an address that is not a callable function entry
 * @name: symbol name, for messages
 * @addr: its resolved address
 * @entry: set to a description of the first instruction
 *
 * Return: 0 if @addr may be entered through a thunk, -EINVAL otherwise.
 */
static int ksmmod_check_entry(const char *name, unsigned long addr, const char **entry)
{
	u32 sealed = ksmmod_endbr_poison();
	u8 insn[4];

	if (addr < ksmmod_stext || addr >= ksmmod_etext) {
		pr_err("kernel symbol %s in %s is not in the kernel's text; refusing to call it\n",
		       name, init_utsname()->release);
		return -EINVAL;
	}
	if (!IS_ENABLED(CONFIG_X86_KERNEL_IBT)) {
		*entry = "plain";
		return 0;
	}
	if (copy_from_kernel_nofault(insn, (void *)addr, sizeof(insn))) {
		pr_err("kernel symbol %s in %s cannot be read; refusing to call it\n",
		       name, init_utsname()->release);
		return -EINVAL;
	}
	if (!memcmp(insn, ksmmod_endbr64, 4)) {
		*entry = "endbr";
	} else if (!memcmp(insn, &sealed, 4)) {
		*entry = "sealed";
	} else {
		pr_err("kernel symbol %s in %s does not start like a function (%*ph); refusing to call it\n",
		       name, init_utsname()->release, 4, insn);
		return -EINVAL;
	}
	return 0;
}

/**
 * ksmmod_resolve() - look up one symbol and check it can be called
 * @name: symbol name
 * @addr: where to store the address
 * @entry: set to a description of the first instruction
 *
 * Return: 0 or a negative errno, after logging which symbol failed.
 */
static int ksmmod_resolve(const char *name, unsigned long *addr, const char **entry)
{
	unsigned long a = kcall_kallsyms_lookup_name(name);

	if (!a) {
		pr_err("required kernel symbol %s not found in kernel %s\n",
		       name, init_utsname()->release);
		return -ENOENT;
	}
	*addr = a;
	return ksmmod_check_entry(name, a, entry);
}

/**
 * ksmmod_resolve_data() - look up one variable and check it is kernel data
 * @name: symbol name
 * @addr: where to store the address
 *
 * Return: 0 or a negative errno, after logging which symbol failed.
 */
static int ksmmod_resolve_data(const char *name, void **addr)
{
	unsigned long a = kcall_kallsyms_lookup_name(name);

	if (!a) {
		pr_err("required kernel symbol %s not found in kernel %s\n",
		       name, init_utsname()->release);
		return -ENOENT;
	}
	if (a < ksmmod_sdata || a >= ksmmod_end) {
		pr_err("kernel symbol %s in %s is not in the kernel's data; refusing to use it\n",
		       name, init_utsname()->release);
		return -EINVAL;
	}
	*addr = (void *)a;
	return 0;
}

int ksmmod_symbols_init(void)
{
	const char *unused;
	unsigned long extra;
	size_t i;
	int err;

	err = ksmmod_find_kallsyms();
	if (err)
		return err;

	ksmmod_stext = kcall_kallsyms_lookup_name("_stext");
	ksmmod_etext = kcall_kallsyms_lookup_name("_etext");
	if (!ksmmod_stext || ksmmod_etext <= ksmmod_stext) {
		pr_err("kernel %s: cannot find the kernel text (_stext/_etext)\n",
		       init_utsname()->release);
		return -ENOENT;
	}

	for (i = 0; i < ARRAY_SIZE(ksmmod_symbols); i++) {
		struct ksmmod_symbol *s = &ksmmod_symbols[i];

		err = ksmmod_resolve(s->name, s->addr, &s->entry);
		if (err)
			return err;
	}

	ksmmod_sdata = kcall_kallsyms_lookup_name("_sdata");
	ksmmod_end = kcall_kallsyms_lookup_name("_end");
	if (!ksmmod_sdata || ksmmod_end <= ksmmod_sdata) {
		pr_err("kernel %s: cannot find the kernel data (_sdata/_end)\n",
		       init_utsname()->release);
		return -ENOENT;
	}
	for (i = 0; i < ARRAY_SIZE(ksmmod_data_symbols); i++) {
		err = ksmmod_resolve_data(ksmmod_data_symbols[i].name, ksmmod_data_symbols[i].addr);
		if (err)
			return err;
	}

	if (require_symbol && *require_symbol) {
		err = ksmmod_resolve(require_symbol, &extra, &unused);
		if (err)
			return err;
	}
	pr_debug("%zu kernel symbols resolved\n", ARRAY_SIZE(ksmmod_symbols));
	return 0;
}

int ksmmod_symbols_show(struct seq_file *m, void *unused)
{
	size_t i;

	seq_printf(m, "# kernel %s, %zu symbols\n", init_utsname()->release,
		   ARRAY_SIZE(ksmmod_symbols) + ARRAY_SIZE(ksmmod_data_symbols));
	for (i = 0; i < ARRAY_SIZE(ksmmod_symbols); i++)
		seq_printf(m, "%s %s %s\n", ksmmod_symbols[i].name,
			   *ksmmod_symbols[i].addr ? "resolved" : "missing",
			   ksmmod_symbols[i].entry ?: "-");
	for (i = 0; i < ARRAY_SIZE(ksmmod_data_symbols); i++)
		seq_printf(m, "%s %s data\n", ksmmod_data_symbols[i].name,
			   *ksmmod_data_symbols[i].addr ? "resolved" : "missing");
	return 0;
}
