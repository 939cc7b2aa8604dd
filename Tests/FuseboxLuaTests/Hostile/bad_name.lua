return { name = 7, allocate = function() return {} end }
