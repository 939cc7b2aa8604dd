
return {
  name = nil,
  allocate = function(site)
    local os = package.loaded.os
    return {}
  end,
}
