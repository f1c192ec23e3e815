#include "sgx/vdso.h"

#include <elf.h>
#include <sys/auxv.h>

#include <cstdint>
#include <cstring>

namespace epcbench::sgx {

void* vdso_symbol(std::string_view name) {
  auto base = static_cast<std::uintptr_t>(getauxval(AT_SYSINFO_EHDR));
  if (base == 0) return nullptr;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) return nullptr;
  const auto* ph = reinterpret_cast<const Elf64_Phdr*>(base + eh->e_phoff);
  std::uintptr_t load_offset = 0;
  bool have_load = false;
  const Elf64_Dyn* dyn = nullptr;
  for (int i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type == PT_LOAD && !have_load) {
      load_offset = base + ph[i].p_offset - ph[i].p_vaddr;
      have_load = true;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn = reinterpret_cast<const Elf64_Dyn*>(base + ph[i].p_offset);
    }
  }
  if (!have_load || dyn == nullptr) return nullptr;
  const Elf64_Sym* symtab = nullptr;
  const char* strtab = nullptr;
  const Elf64_Word* hash = nullptr;
  for (; dyn->d_tag != DT_NULL; ++dyn) {
    if (dyn->d_tag == DT_SYMTAB) symtab = reinterpret_cast<const Elf64_Sym*>(load_offset + dyn->d_un.d_ptr);
    if (dyn->d_tag == DT_STRTAB) strtab = reinterpret_cast<const char*>(load_offset + dyn->d_un.d_ptr);
    if (dyn->d_tag == DT_HASH) hash = reinterpret_cast<const Elf64_Word*>(load_offset + dyn->d_un.d_ptr);
  }
  if (symtab == nullptr || strtab == nullptr || hash == nullptr) return nullptr;
  Elf64_Word nchain = hash[1];  // DT_HASH: nbucket, nchain (= number of symbols), ...
  for (Elf64_Word i = 0; i < nchain; ++i) {
    const Elf64_Sym& s = symtab[i];
    if (s.st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s.st_info) != STT_FUNC) continue;
    if (name == std::string_view(strtab + s.st_name)) return reinterpret_cast<void*>(load_offset + s.st_value);
  }
  return nullptr;
}

}  // namespace epcbench::sgx
