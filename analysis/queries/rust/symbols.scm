; Definitions for documentSymbol. Each pattern captures the definition under
; the name of its kind and its name as @name; a function nested in an impl
; or trait becomes a method in code.
(function_item name: (identifier) @name) @function
(function_signature_item name: (identifier) @name) @function
(struct_item name: (type_identifier) @name) @struct
(union_item name: (type_identifier) @name) @struct
(enum_item name: (type_identifier) @name) @enum
(enum_variant name: (identifier) @name) @enum_member
(field_declaration name: (field_identifier) @name) @field
(trait_item name: (type_identifier) @name) @interface
(impl_item type: (_) @name) @impl
(mod_item name: (identifier) @name) @module
(const_item name: (identifier) @name) @constant
(static_item name: (identifier) @name) @constant
(type_item name: (type_identifier) @name) @type_alias
(associated_type name: (type_identifier) @name) @type_alias
(macro_definition name: (identifier) @name) @macro
