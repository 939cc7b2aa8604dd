
return {
  name = nil,
  allocate = function(site)
    local function f(n) return 1 + f(n + 1) end
    return { p01 = f(1) }
  end,
}
