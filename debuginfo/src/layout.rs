//! Struct layouts read from DWARF.
//!
//! The gdb extension decodes the runtime's `G`, `M`, `P` and `Sched` from raw
//! memory. It never hard-codes an offset: every offset, size and enum value
//! comes from the binary's own DWARF, found by the type's name under the
//! runtime crate's namespace (`runtime::…::G`). When a field the tools read is
//! renamed or removed in the runtime, [`TypeInfo::field`] returns `None` and the
//! tools (and their contract test) say which field is missing.
//!
//! The model is deliberately small: a [`TypeInfo`] is a named, sized type whose
//! [`Kind`] is a struct (with its fields, nested structs resolved too), an
//! enum (with its enumerators), a pointer (with the pointee's name), an array,
//! a base type, or something else the tools do not look into.
//!
//! ```no_run
//! let data = std::fs::read("target/debug/parked").unwrap();
//! let file = object::File::parse(&*data).unwrap();
//! let layouts = debuginfo::layout::Layouts::from_object(&file, "runtime", &["G"]).unwrap();
//! let g = layouts.get("G").expect("runtime has a G");
//! let (sp_offset, _) = g.field("sched.sp").expect("G.sched.sp");
//! println!("G is {} bytes, sched.sp at {sp_offset}", g.size);
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use gimli::{AttributeValue, EndianSlice, Reader, RunTimeEndian, UnitOffset};
use object::{Object, ObjectSection};

/// How deep nested struct fields are resolved (G.sched.sp is depth 1).
const MAX_DEPTH: usize = 4;

/// A type as the DWARF describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeInfo {
    /// The type's name: the full path (`runtime::proc::G`) for the types
    /// looked up by name, the DWARF name (`*mut runtime::proc::G`, `u32`)
    /// for the types of fields.
    pub name: String,
    /// `DW_AT_byte_size` (0 when the DWARF has none).
    pub size: u64,
    pub kind: Kind,
}

/// What a [`TypeInfo`] is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A struct or union with its fields in declaration order.
    Struct(Vec<Field>),
    /// A C-like enum: (value, enumerator name).
    Enum(Vec<(i64, String)>),
    /// A pointer or reference to the named type.
    Pointer(String),
    /// An array of `count` elements.
    Array { elem: Box<TypeInfo>, count: u64 },
    /// An integer, float, bool or char.
    Base,
    /// Anything the tools do not look into (Rust enums with data, functions...).
    Other,
}

/// One field of a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// Byte offset from the start of the struct.
    pub offset: u64,
    pub ty: TypeInfo,
}

impl TypeInfo {
    /// The fields of a struct (empty for anything else).
    pub fn fields(&self) -> &[Field] {
        match &self.kind {
            Kind::Struct(fields) => fields,
            _ => &[],
        }
    }

    /// Resolves a dotted field path (`"sched.sp"`) to its byte offset from the
    /// start of `self` and its type. `None` when any component is missing.
    pub fn field(&self, path: &str) -> Option<(u64, &TypeInfo)> {
        let mut offset = 0;
        let mut ty = self;
        for part in path.split('.') {
            let f = ty.fields().iter().find(|f| f.name == part)?;
            offset += f.offset;
            ty = &f.ty;
        }
        Some((offset, ty))
    }

    /// The enumerators of a C-like enum (empty for anything else).
    pub fn enumerators(&self) -> &[(i64, String)] {
        match &self.kind {
            Kind::Enum(v) => v,
            _ => &[],
        }
    }
}

/// Why the layouts could not be read.
#[derive(Debug)]
pub enum LayoutError {
    /// The DWARF could not be parsed.
    Dwarf(gimli::Error),
    /// The binary has no usable DWARF.
    NoDwarf(String),
    /// Two different types have the same name under the crate.
    Ambiguous {
        name: String,
        first: String,
        second: String,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Dwarf(e) => write!(f, "cannot read DWARF: {e}"),
            LayoutError::NoDwarf(e) => write!(f, "{e}"),
            LayoutError::Ambiguous {
                name,
                first,
                second,
            } => write!(f, "type {name} is ambiguous: {first} and {second} differ"),
        }
    }
}

impl std::error::Error for LayoutError {}

impl From<gimli::Error> for LayoutError {
    fn from(e: gimli::Error) -> Self {
        LayoutError::Dwarf(e)
    }
}

/// The layouts of a set of named types of one crate.
#[derive(Debug, Clone, Default)]
pub struct Layouts {
    by_name: HashMap<String, TypeInfo>,
}

impl Layouts {
    /// Reads the layouts of the struct and enum types called `names` (last
    /// path component) declared anywhere under the namespace `crate_name`
    /// (`runtime::proc::G` matches crate `runtime`, name `G`). With an empty
    /// `crate_name`, `names` are the types' whole DWARF names outside any
    /// namespace (Go's `runtime.g`). Types not found are simply absent: ask
    /// with [`Layouts::get`].
    pub fn from_object(
        file: &object::File<'_>,
        crate_name: &str,
        names: &[&str],
    ) -> Result<Layouts, LayoutError> {
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let sections = gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, gimli::Error> {
            Ok(file
                .section_by_name(id.name())
                .and_then(|s| s.uncompressed_data().ok())
                .unwrap_or(Cow::Borrowed(&[])))
        })?;
        let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
        Self::from_dwarf(&dwarf, crate_name, names)
    }

    /// As [`Layouts::from_object`], reusing the DWARF a [`crate::Binary`]
    /// already loaded.
    pub fn from_binary(
        bin: &crate::Binary,
        crate_name: &str,
        names: &[&str],
    ) -> Result<Layouts, LayoutError> {
        let info = bin
            .debug_info()
            .map_err(|e| LayoutError::NoDwarf(e.to_string()))?;
        Self::from_dwarf(&info.dwarf, crate_name, names)
    }

    /// As [`Layouts::from_object`], from an already loaded `gimli::Dwarf`.
    pub fn from_dwarf<R: Reader>(
        dwarf: &gimli::Dwarf<R>,
        crate_name: &str,
        names: &[&str],
    ) -> Result<Layouts, LayoutError> {
        let mut out = Layouts::default();
        // Walking every entry of every unit is most of the cost (100 ms on
        // a release binary of ours, with std's and the dependencies'
        // units): first the units of the crate that defines the types (a
        // Rust codegen unit is named `.../lib.rs/@/CRATE.HASH-cgu.N`, a Go
        // package's unit by the package, `runtime`), then the others only
        // if a type is still missing.
        let mut own = Vec::new();
        let mut others = Vec::new();
        let mut units = dwarf.units();
        while let Some(header) = units.next()? {
            let unit = dwarf.unit(header)?;
            let name = unit
                .name
                .as_ref()
                .map(|n| n.to_string_lossy().map(|s| s.into_owned()))
                .transpose()?
                .unwrap_or_default();
            let mine = if crate_name.is_empty() {
                names
                    .iter()
                    .any(|n| n.split('.').next() == Some(name.as_str()))
            } else {
                name.contains(&format!("/@/{crate_name}."))
            };
            if mine {
                own.push(unit)
            } else {
                others.push(unit)
            }
        }
        let all_found = |out: &Layouts| names.iter().all(|n| out.by_name.contains_key(*n));
        for (i, unit) in own.iter().chain(&others).enumerate() {
            if i >= own.len() && all_found(&out) {
                break;
            }
            let mut cursor = unit.entries();
            let mut path: Vec<(isize, String)> = Vec::new();
            let mut found: Vec<(UnitOffset<R::Offset>, String, String)> = Vec::new();
            while let Some(entry) = cursor.next_dfs()? {
                let depth = entry.depth();
                while path.last().is_some_and(|(d, _)| *d >= depth) {
                    path.pop();
                }
                let tag = entry.tag();
                let is_type = tag == gimli::DW_TAG_structure_type
                    || tag == gimli::DW_TAG_enumeration_type
                    || tag == gimli::DW_TAG_union_type;
                if tag != gimli::DW_TAG_namespace && !is_type {
                    continue;
                }
                let Some(name) = entry_name(dwarf, unit, entry) else {
                    continue;
                };
                let in_crate = if crate_name.is_empty() {
                    path.is_empty()
                } else {
                    path.first().is_some_and(|(_, c)| c == crate_name)
                };
                if is_type
                    && in_crate
                    && names.contains(&name.as_str())
                    && entry.attr_value(gimli::DW_AT_declaration).is_none()
                {
                    let mut full: Vec<&str> = path.iter().map(|(_, s)| s.as_str()).collect();
                    full.push(&name);
                    found.push((entry.offset(), name.clone(), full.join("::")));
                }
                path.push((depth, name));
            }
            for (offset, short, full) in found {
                let mut ty = resolve(dwarf, unit, offset, 0)?;
                ty.name = full;
                match out.by_name.get(&short) {
                    Some(prev) if prev.name != ty.name || prev.size != ty.size => {
                        return Err(LayoutError::Ambiguous {
                            name: short,
                            first: prev.name.clone(),
                            second: ty.name,
                        });
                    }
                    Some(_) => {}
                    None => {
                        out.by_name.insert(short, ty);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The layout of the type whose last path component is `name`.
    pub fn get(&self, name: &str) -> Option<&TypeInfo> {
        self.by_name.get(name)
    }

    /// Every type found, by short name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TypeInfo)> {
        self.by_name.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl Layouts {
    /// The `Type.field.path`s of `contract` that these layouts lack (a
    /// missing type is reported as `Type`).
    pub fn missing(&self, contract: &[(&str, &[&str])]) -> Vec<String> {
        let mut out = Vec::new();
        for (ty, fields) in contract {
            match self.get(ty) {
                None => out.push((*ty).to_string()),
                Some(info) => {
                    for f in *fields {
                        if info.field(f).is_none() {
                            out.push(format!("{ty}.{f}"));
                        }
                    }
                }
            }
        }
        out
    }
}

/// The named constants (`DW_TAG_constant` with a `DW_AT_const_value`)
/// whose names start with one of `prefixes`, as (name, value). Go's DWARF
/// has the runtime's (`runtime._Grunning = 2`,
/// `runtime.waitReasonChanReceive = 14`); Rust's has none.
pub fn constants(
    bin: &crate::Binary,
    prefixes: &[&str],
) -> Result<Vec<(String, i64)>, LayoutError> {
    let info = bin
        .debug_info()
        .map_err(|e| LayoutError::NoDwarf(e.to_string()))?;
    let dwarf = &info.dwarf;
    let mut out = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut cursor = unit.entries();
        while let Some(entry) = cursor.next_dfs()? {
            if entry.tag() != gimli::DW_TAG_constant {
                continue;
            }
            let Some(name) = entry_name(dwarf, &unit, entry) else {
                continue;
            };
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let value = entry.attr(gimli::DW_AT_const_value).and_then(|a| {
                a.sdata_value()
                    .or_else(|| a.udata_value().map(|u| u as i64))
            });
            if let Some(v) = value {
                out.push((name, v));
            }
        }
    }
    Ok(out)
}

fn entry_name<R: Reader>(
    dwarf: &gimli::Dwarf<R>,
    unit: &gimli::Unit<R>,
    entry: &gimli::DebuggingInformationEntry<R>,
) -> Option<String> {
    let v = entry.attr_value(gimli::DW_AT_name)?;
    let s = dwarf.attr_string(unit, v).ok()?;
    Some(s.to_string_lossy().ok()?.into_owned())
}

fn udata<R: Reader>(entry: &gimli::DebuggingInformationEntry<R>, at: gimli::DwAt) -> Option<u64> {
    entry.attr(at).and_then(|a| a.udata_value())
}

/// The entry's `DW_AT_type` in its own unit: a unit reference (Rust), or a
/// section reference that falls inside the unit (Go's linker writes
/// `DW_FORM_ref_addr` for every type).
fn type_ref<R: Reader>(
    unit: &gimli::Unit<R>,
    entry: &gimli::DebuggingInformationEntry<R>,
) -> Option<UnitOffset<R::Offset>> {
    match entry.attr_value(gimli::DW_AT_type)? {
        AttributeValue::UnitRef(o) => Some(o),
        AttributeValue::DebugInfoRef(o) => o.to_unit_offset(&unit.header),
        _ => None,
    }
}

fn resolve<R: Reader>(
    dwarf: &gimli::Dwarf<R>,
    unit: &gimli::Unit<R>,
    offset: UnitOffset<R::Offset>,
    depth: usize,
) -> Result<TypeInfo, gimli::Error> {
    let entry = unit.entry(offset)?;
    let name = entry_name(dwarf, unit, &entry).unwrap_or_default();
    let size = udata(&entry, gimli::DW_AT_byte_size);
    let tag = entry.tag();
    let ty = match tag {
        gimli::DW_TAG_base_type => TypeInfo {
            name,
            size: size.unwrap_or(0),
            kind: Kind::Base,
        },
        gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => {
            let target = match type_ref(unit, &entry) {
                Some(t) => entry_name(dwarf, unit, &unit.entry(t)?).unwrap_or_default(),
                None => String::new(),
            };
            TypeInfo {
                name,
                size: size.unwrap_or(u64::from(unit.encoding().address_size)),
                kind: Kind::Pointer(target),
            }
        }
        gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => {
            let mut fields = Vec::new();
            let mut tree = unit.entries_tree(Some(offset))?;
            let root = tree.root()?;
            let mut children = root.children();
            let mut has_variants = false;
            while let Some(child) = children.next()? {
                let e = child.entry();
                if e.tag() == gimli::DW_TAG_variant_part {
                    has_variants = true;
                }
                if e.tag() != gimli::DW_TAG_member {
                    continue;
                }
                let fname = entry_name(dwarf, unit, e).unwrap_or_default();
                let foffset = udata(e, gimli::DW_AT_data_member_location).unwrap_or(0);
                let fty = match type_ref(unit, e) {
                    Some(t) if depth < MAX_DEPTH => resolve(dwarf, unit, t, depth + 1)?,
                    Some(t) => {
                        let te = unit.entry(t)?;
                        TypeInfo {
                            name: entry_name(dwarf, unit, &te).unwrap_or_default(),
                            size: udata(&te, gimli::DW_AT_byte_size).unwrap_or(0),
                            kind: Kind::Other,
                        }
                    }
                    None => TypeInfo {
                        name: String::new(),
                        size: 0,
                        kind: Kind::Other,
                    },
                };
                fields.push(Field {
                    name: fname,
                    offset: foffset,
                    ty: fty,
                });
            }
            TypeInfo {
                name,
                size: size.unwrap_or(0),
                kind: if has_variants {
                    Kind::Other
                } else {
                    Kind::Struct(fields)
                },
            }
        }
        gimli::DW_TAG_enumeration_type => {
            let mut variants = Vec::new();
            let mut tree = unit.entries_tree(Some(offset))?;
            let root = tree.root()?;
            let mut children = root.children();
            while let Some(child) = children.next()? {
                let e = child.entry();
                if e.tag() != gimli::DW_TAG_enumerator {
                    continue;
                }
                let Some(vname) = entry_name(dwarf, unit, e) else {
                    continue;
                };
                let value = match e.attr(gimli::DW_AT_const_value) {
                    Some(a) => a
                        .sdata_value()
                        .or_else(|| a.udata_value().map(|u| u as i64)),
                    None => None,
                };
                if let Some(v) = value {
                    variants.push((v, vname));
                }
            }
            TypeInfo {
                name,
                size: size.unwrap_or(0),
                kind: Kind::Enum(variants),
            }
        }
        gimli::DW_TAG_array_type => {
            let elem = match type_ref(unit, &entry) {
                Some(t) => resolve(dwarf, unit, t, depth.max(MAX_DEPTH - 1))?,
                None => TypeInfo {
                    name: String::new(),
                    size: 0,
                    kind: Kind::Other,
                },
            };
            let mut count = 0;
            let mut tree = unit.entries_tree(Some(offset))?;
            let root = tree.root()?;
            let mut children = root.children();
            while let Some(child) = children.next()? {
                let e = child.entry();
                if e.tag() == gimli::DW_TAG_subrange_type {
                    if let Some(c) = udata(e, gimli::DW_AT_count) {
                        count = c;
                    } else if let Some(u) = udata(e, gimli::DW_AT_upper_bound) {
                        count = u + 1;
                    }
                }
            }
            TypeInfo {
                name: if name.is_empty() {
                    format!("[{}; {count}]", elem.name)
                } else {
                    name
                },
                size: size.unwrap_or(elem.size * count),
                kind: Kind::Array {
                    elem: Box::new(elem),
                    count,
                },
            }
        }
        gimli::DW_TAG_typedef
        | gimli::DW_TAG_const_type
        | gimli::DW_TAG_volatile_type
        | gimli::DW_TAG_atomic_type => match type_ref(unit, &entry) {
            Some(t) => {
                let mut inner = resolve(dwarf, unit, t, depth)?;
                if !name.is_empty() {
                    inner.name = name;
                }
                inner
            }
            None => TypeInfo {
                name,
                size: size.unwrap_or(0),
                kind: Kind::Other,
            },
        },
        _ => TypeInfo {
            name,
            size: size.unwrap_or(0),
            kind: Kind::Other,
        },
    };
    Ok(ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// A stand-in for the runtime's saved context.
    #[repr(C)]
    pub struct SampleBuf {
        pub sp: usize,
        pub pc: usize,
        pub bp: usize,
    }

    #[repr(u8)]
    #[allow(dead_code)]
    pub enum SampleReason {
        Zero = 0,
        ChanReceive = 14,
    }

    #[repr(C)]
    pub struct SampleG {
        pub flag: u8,
        pub sched: SampleBuf,
        pub goid: i64,
        pub status: AtomicU32,
        pub reason: SampleReason,
        pub next: *mut SampleG,
        pub ring: [*mut SampleG; 7],
    }

    #[test]
    fn reads_repr_c_layouts_of_this_test_binary() {
        // Keep the types alive in the DWARF.
        let g = std::hint::black_box(SampleG {
            flag: 1,
            sched: SampleBuf {
                sp: 1,
                pc: 2,
                bp: 3,
            },
            goid: 4,
            status: AtomicU32::new(5),
            reason: SampleReason::ChanReceive,
            next: std::ptr::null_mut(),
            ring: [std::ptr::null_mut(); 7],
        });
        let data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let layouts =
            Layouts::from_object(&file, "debuginfo", &["SampleG", "SampleReason"]).unwrap();
        let ty = layouts.get("SampleG").expect("SampleG in DWARF");
        assert_eq!(ty.name, "debuginfo::layout::tests::SampleG");
        assert_eq!(ty.size, std::mem::size_of::<SampleG>() as u64);
        let base = &g as *const SampleG as usize;
        let off = |p: usize| (p - base) as u64;
        assert_eq!(
            ty.field("sched.sp").unwrap().0,
            off(&g.sched.sp as *const _ as usize)
        );
        assert_eq!(
            ty.field("sched.bp").unwrap().0,
            off(&g.sched.bp as *const _ as usize)
        );
        assert_eq!(
            ty.field("goid").unwrap().0,
            off(&g.goid as *const _ as usize)
        );
        let (status_off, status_ty) = ty.field("status").unwrap();
        assert_eq!(status_off, off(&g.status as *const _ as usize));
        assert_eq!(status_ty.size, 4);
        let (_, next) = ty.field("next").unwrap();
        assert_eq!(next.kind, Kind::Pointer("SampleG".into()));
        let (_, ring) = ty.field("ring").unwrap();
        assert!(matches!(&ring.kind, Kind::Array { count: 7, .. }));
        assert_eq!(ring.size, 56);
        let (_, reason) = ty.field("reason").unwrap();
        assert_eq!(reason.size, 1);
        assert!(
            reason
                .enumerators()
                .contains(&(14, "ChanReceive".to_string()))
        );
        assert!(ty.field("sched.nope").is_none());
        assert!(ty.field("missing").is_none());
        assert!(layouts.get("SampleReason").is_some());
        let contract: &[(&str, &[&str])] = &[
            ("SampleG", &["sched.pc", "goid", "sched.gone", "renamed"]),
            ("SampleM", &["id"]),
        ];
        assert_eq!(
            layouts.missing(contract),
            vec!["SampleG.sched.gone", "SampleG.renamed", "SampleM"]
        );
    }
}
