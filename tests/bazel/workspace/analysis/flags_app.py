# The app of :flags_component, which is only analysed (analysis tests), never built.
