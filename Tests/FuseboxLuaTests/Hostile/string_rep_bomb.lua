
return {
  name = nil,
  allocate = function(site)
    local s = string.rep("x", 1 << 30)
    return {}
  end,
}
