return { name = "no_allocate" }
