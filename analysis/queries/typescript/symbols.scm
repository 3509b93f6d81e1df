; Definitions for documentSymbol (TypeScript and TSX share this query).
(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(function_signature name: (identifier) @name) @function
(class_declaration name: (type_identifier) @name) @class
(abstract_class_declaration name: (type_identifier) @name) @class
(method_definition name: (_) @name) @method
(abstract_method_signature name: (_) @name) @method
(interface_body (method_signature name: (_) @name) @method)
(public_field_definition name: (_) @name) @property
(interface_body (property_signature name: (_) @name) @property)
(interface_declaration name: (type_identifier) @name) @interface
(enum_declaration name: (identifier) @name) @enum
(enum_body (property_identifier) @name @enum_member)
(enum_body (enum_assignment name: (_) @name) @enum_member)
(type_alias_declaration name: (type_identifier) @name) @type_alias
(internal_module name: (_) @name) @module
(module name: (_) @name) @module
; Top-level variables only: locals would drown the outline. A variable
; holding a function is shown as a function (decided in code).
(program (lexical_declaration (variable_declarator name: (identifier) @name) @variable))
(program (variable_declaration (variable_declarator name: (identifier) @name) @variable))
(program (export_statement (lexical_declaration (variable_declarator name: (identifier) @name) @variable)))
