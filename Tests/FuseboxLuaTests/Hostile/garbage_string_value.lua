
return {
  name = nil,
  allocate = function(site)
    return { p01 = "16" }
  end,
}
