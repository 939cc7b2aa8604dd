
return {
  name = nil,
  allocate = function(site)
    return { p01 = 0/0 }
  end,
}
